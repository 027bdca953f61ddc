"""Check every response any test receives against the OpenAPI document.

Loaded by ``tests/openapi/conftest.py``, so it is active in every session that collects
``tests/openapi`` (``make test`` does); for other selections:

    PYTHONPATH=. .venv/bin/pytest -p tests.openapi.audit_plugin tests/service tests/store

While loaded, every response of a Flask test client is validated with the contract of
``tests/openapi/contract.py`` (documented status, JSON body valid against its schema). The
session ends with a summary; a response that does not conform fails the session (exit status
1) even when the test that received it passed, since the test may not look at the body.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.openapi.contract import shared_contract

_checked: Counter[str] = Counter()
_problems: dict[str, str] = {}  # problem -> first test that met it
_original_open = FlaskClient.open


def _audited_open(self: FlaskClient, *args: Any, **kwargs: Any) -> Any:
    response = _original_open(self, *args, **kwargs)
    request = getattr(response, "request", None)
    if request is None:
        return response
    method, path = request.method, request.path
    if method in {"OPTIONS", "HEAD"}:
        return response  # CORS preflights are answered before routing, without a body
    contract = shared_contract()
    if contract.template_for(path) is None:
        return response  # paths the service does not serve (404 of the router) are not API
    body = response.get_json(silent=True)
    problems = contract.check_response(
        method.lower(), path, response.status_code, body, response.content_type
    )
    template = contract.template_for(path)
    _checked[f"{method} {template} {response.status_code}"] += 1
    current = os.environ.get("PYTEST_CURRENT_TEST", "(outside a test)").rsplit(" ", 1)[0]
    for problem in problems:
        _problems.setdefault(problem, current)
    return response


def pytest_configure(config: pytest.Config) -> None:
    if FlaskClient.open is _original_open:
        FlaskClient.open = _audited_open  # type: ignore[method-assign]


def pytest_unconfigure(config: pytest.Config) -> None:
    FlaskClient.open = _original_open  # type: ignore[method-assign]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    write = terminalreporter.write_line
    write(f"OpenAPI audit: {sum(_checked.values())} responses checked")
    if terminalreporter.config.option.verbose > 0:
        for key, count in sorted(_checked.items()):
            write(f"  {key}: {count}")
    write(f"OpenAPI audit: {len(_problems)} distinct non-conforming responses")
    for problem, test in sorted(_problems.items()):
        write(f"  {problem}\n    first in {test}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _problems and exitstatus == 0:
        session.exitstatus = 1
