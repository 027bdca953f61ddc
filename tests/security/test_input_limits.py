"""Input limits hold for authenticated callers too, each a clear JSON 4xx; an unauthenticated
caller is refused before its body is read."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from tests.security.conftest import (
    BASE,
    SERVICE_PATH,
    Keys,
    assert_unauthorized,
    bearer,
    fhir_bundle,
    hook_body,
    make_token,
)


@pytest.fixture
def limited_client(make_secure_app: Callable[..., Flask], issuer_entries: list[Any]) -> Any:
    app = make_secure_app(
        issuer_entries,
        max_body_bytes=64 * 1024,
        max_json_depth=16,
        max_prefetch_keys=12,
        max_prefetch_entries=100,
    )
    return app.test_client()


def _post(client: Any, keys: Keys, data: bytes) -> Any:
    token = make_token(keys.a_es, aud=BASE + SERVICE_PATH)
    return client.post(
        SERVICE_PATH,
        data=data,
        headers={**bearer(token), "Content-Type": "application/json"},
    )


def _assert_clear_4xx(response: Any, status: int | tuple[int, ...]) -> None:
    statuses = status if isinstance(status, tuple) else (status,)
    assert response.status_code in statuses, response.get_data(as_text=True)[:300]
    body = response.get_json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["diagnostics"]


def _deep(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = {"a": value}
    return value


def test_body_too_large(limited_client: Any, keys: Keys) -> None:
    body = hook_body(extension={"pad": "x" * (70 * 1024)})
    _assert_clear_4xx(_post(limited_client, keys, json.dumps(body).encode()), 413)


def test_json_too_deep(limited_client: Any, keys: Keys) -> None:
    body = hook_body(extension={"deep": _deep(40)})
    _assert_clear_4xx(_post(limited_client, keys, json.dumps(body).encode()), 400)
    # Deeper than Python's own recursion limit, still a 4xx and not a crash.
    raw = b'{"hook":"patient-view","x":' + b"[" * 5000 + b"]" * 5000 + b"}"
    _assert_clear_4xx(_post(limited_client, keys, raw), (400, 413))


def test_too_many_prefetch_keys(limited_client: Any, keys: Keys) -> None:
    body = hook_body()
    body["prefetch"].update({f"extra{n}": fhir_bundle() for n in range(20)})
    _assert_clear_4xx(_post(limited_client, keys, json.dumps(body).encode()), (400, 413))


def test_too_many_prefetch_entries(limited_client: Any, keys: Keys) -> None:
    body = hook_body()
    observations = [
        {"resourceType": "Observation", "id": f"o{n}", "status": "final"} for n in range(150)
    ]
    body["prefetch"]["boneDensity"] = fhir_bundle(*observations)
    _assert_clear_4xx(_post(limited_client, keys, json.dumps(body).encode()), (400, 413))


def test_limits_do_not_spend_the_token(limited_client: Any, keys: Keys) -> None:
    # A refused body is answered after authentication; a valid call afterwards works.
    _post(limited_client, keys, json.dumps(hook_body(extension={"deep": _deep(40)})).encode())
    response = _post(limited_client, keys, json.dumps(hook_body()).encode())
    assert response.status_code == 200


def test_unauthenticated_large_body_refused_before_reading(limited_client: Any) -> None:
    big = b'{"pad":"' + b"x" * (1024 * 1024) + b'"}'
    response = limited_client.post(
        SERVICE_PATH, data=big, headers={"Content-Type": "application/json"}
    )
    assert_unauthorized(response)
