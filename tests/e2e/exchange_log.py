"""What the CDS service saw: every request the browser made to it, as the service judged it.

A WSGI wrapper keeps each request body (the service may read its input only once) and an
``after_request`` hook records the status, the JSON answer and, above all, the CDS Client the
service's security layer verified (``flask.g.cds_client``), so the tests can assert from the
service's side that the sandbox's JWT was checked and accepted.
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, g, request

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@dataclass(frozen=True, slots=True)
class Exchange:
    method: str
    path: str
    status: int
    request_json: Any
    response_json: Any
    client_iss: str | None  # the verified issuer; None when no JWT was verified
    has_authorization: bool


class ExchangeLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[Exchange] = []

    def install(self, app: Flask) -> None:
        inner: WsgiApp = app.wsgi_app

        def keep_body(environ: dict[str, Any], start_response: Callable[..., Any]):  # type: ignore[no-untyped-def]
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length > 0 else b""
            environ["wsgi.input"] = io.BytesIO(body)
            environ["e2e.body"] = body
            return inner(environ, start_response)

        app.wsgi_app = keep_body  # type: ignore[method-assign]

        def record(response: Response) -> Response:
            body = request.environ.get("e2e.body", b"")
            client = g.get("cds_client")
            self._append(
                Exchange(
                    method=request.method,
                    path=request.path,
                    status=response.status_code,
                    request_json=_json_or_none(body),
                    response_json=response.get_json(silent=True)
                    if response.is_json and not response.direct_passthrough
                    else None,
                    client_iss=getattr(client, "iss", None),
                    has_authorization="Authorization" in request.headers,
                )
            )
            return response

        app.after_request(record)

    def _append(self, item: Exchange) -> None:
        with self._lock:
            self._items.append(item)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def all(self) -> list[Exchange]:
        with self._lock:
            return list(self._items)

    def matching(self, method: str, path: str) -> list[Exchange]:
        return [e for e in self.all() if e.method == method and e.path == path]

    def wait_for(self, predicate: Callable[[list[Exchange]], Any], *, timeout: float = 30.0) -> Any:
        """Poll until ``predicate(exchanges)`` is truthy; return its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate(self.all())
            if value:
                return value
            if time.monotonic() > deadline:
                summary = [(e.method, e.path, e.status) for e in self.all()]
                raise AssertionError(f"the service did not see the expected requests: {summary}")
            time.sleep(0.1)


def _json_or_none(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None
