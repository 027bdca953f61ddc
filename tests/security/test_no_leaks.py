"""No token (the EHR's JWT or the FHIR access token), patient id or patient name in any log
line or error body, whatever happens to the request."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.security.conftest import (
    ACCESS_TOKEN,
    BASE,
    DISCOVERY,
    EHR_A,
    PATIENT_FAMILY,
    PATIENT_ID,
    PATIENT_NAME,
    SERVICE_PATH,
    ConnectionCounter,
    Keys,
    LocalHttpServer,
    LogCapture,
    bearer,
    hook_body,
    make_token,
)
from tests.security.test_fhir_token import fetch_body

SECRETS = (ACCESS_TOKEN, PATIENT_ID, PATIENT_NAME, PATIENT_FAMILY)


def assert_clean(text: str, *extra: str) -> None:
    for secret in (*SECRETS, *extra):
        assert secret not in text, f"{secret[:12]}... leaked"


@pytest.fixture
def failing_fhir_server() -> Iterator[LocalHttpServer]:
    """Answers 500 and echoes the request's Authorization header and path in its body, as a
    careless server might: none of it may travel on into our error body or log."""
    server = LocalHttpServer()

    def echo(path: str) -> tuple[int, dict[str, str], bytes]:
        last = server.requests[-1]
        body = {"error": "boom", "auth": last.headers.get("Authorization"), "path": path}
        return 500, {"Content-Type": "application/json"}, json.dumps(body).encode()

    server.routes["/fhir/"] = echo
    yield server
    server.close()


def service_token(keys: Keys) -> str:
    return make_token(keys.a_es, aud=BASE + SERVICE_PATH)


def test_refused_jwts_are_not_logged(
    client: FlaskClient, keys: Keys, captured_logs: LogCapture
) -> None:
    import time

    now = int(time.time())
    tokens = [
        make_token(keys.a_es, iat=now - 900, exp=now - 600),  # expired
        make_token(keys.attacker_same_kid),  # bad signature
        make_token(keys.a_es, aud="https://elsewhere.example/cds-services"),
        make_token(keys.attacker, iss="https://attacker.example.net"),
    ]
    bodies = []
    for token in tokens:
        response = client.get(DISCOVERY, headers=bearer(token))
        assert response.status_code == 401
        bodies.append(response.get_data(as_text=True))
    assert captured_logs.lines, "nothing was logged; the check would be empty"
    for token in tokens:
        signature = token.rsplit(".", 1)[1]
        for text in (captured_logs.text, *bodies):
            assert token not in text
            assert signature not in text


def test_successful_fetch_logs_no_token_or_patient(
    client: FlaskClient, keys: Keys, fhir_server: LocalHttpServer, captured_logs: LogCapture
) -> None:
    jwt_token = service_token(keys)
    response = client.post(
        SERVICE_PATH, json=fetch_body(fhir_server.url("/fhir")), headers=bearer(jwt_token)
    )
    assert response.status_code == 200
    assert fhir_server.requests  # the token and the patient id did travel to the FHIR server
    assert any('"event":"request"' in line for line in captured_logs.lines)
    assert_clean(captured_logs.text, jwt_token)


def test_prefetched_call_logs_no_patient(
    client: FlaskClient, keys: Keys, captured_logs: LogCapture
) -> None:
    response = client.post(SERVICE_PATH, json=hook_body(), headers=bearer(service_token(keys)))
    assert response.status_code == 200
    assert_clean(captured_logs.text)


def test_fhir_server_error_echoing_the_token(
    make_secure_app: Callable[..., Flask],
    keys: Keys,
    jwks: LocalHttpServer,
    failing_fhir_server: LocalHttpServer,
    captured_logs: LogCapture,
) -> None:
    entries = [
        {
            "iss": EHR_A,
            "jwks_url": jwks.url("/a/jwks.json"),
            "fhir_servers": [failing_fhir_server.url("/fhir")],
        }
    ]
    client = make_secure_app(entries).test_client()
    jwt_token = service_token(keys)
    response = client.post(
        SERVICE_PATH,
        json=fetch_body(failing_fhir_server.url("/fhir")),
        headers=bearer(jwt_token),
    )
    assert response.status_code == 412
    assert failing_fhir_server.requests
    assert_clean(response.get_data(as_text=True), jwt_token)
    assert_clean(captured_logs.text, jwt_token)


def test_refused_fhir_server_body_and_log(
    client: FlaskClient, keys: Keys, counter: ConnectionCounter, captured_logs: LogCapture
) -> None:
    jwt_token = service_token(keys)
    response = client.post(
        SERVICE_PATH,
        json=fetch_body(f"http://127.0.0.1:{counter.port}/fhir"),
        headers=bearer(jwt_token),
    )
    assert response.status_code in (400, 412)
    assert_clean(response.get_data(as_text=True), jwt_token)
    assert_clean(captured_logs.text, jwt_token)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b.pop("fhirServer"),  # fhirAuthorization without fhirServer
        lambda b: b["fhirAuthorization"].update(token_type="MAC"),
        lambda b: b["fhirAuthorization"].update(expires_in="soon"),
        lambda b: b["fhirAuthorization"].pop("scope"),
        lambda b: b.update(hook="order-sign"),
        lambda b: b["context"].pop("userId"),
    ],
    ids=["no-fhirServer", "token-type", "expires-in", "no-scope", "wrong-hook", "no-userId"],
)
def test_invalid_requests_do_not_echo_secrets(
    client: FlaskClient,
    keys: Keys,
    fhir_server: LocalHttpServer,
    captured_logs: LogCapture,
    mutate: Callable[[dict[str, Any]], Any],
) -> None:
    body = fetch_body(fhir_server.url("/fhir"))
    mutate(body)
    jwt_token = service_token(keys)
    response = client.post(SERVICE_PATH, json=body, headers=bearer(jwt_token))
    assert response.status_code == 400, response.get_data(as_text=True)
    assert not fhir_server.requests
    assert_clean(response.get_data(as_text=True), jwt_token)
    assert_clean(captured_logs.text, jwt_token)


def test_engine_failure_logs_no_patient(
    make_secure_app: Callable[..., Flask],
    issuer_entries: list[Any],
    keys: Keys,
    captured_logs: LogCapture,
) -> None:
    app = make_secure_app(issuer_entries)

    class Exploding:
        def evaluate(self, prefetch: Any, *, patient_id: str, as_of: Any) -> list[Any]:
            # A careless error message quoting the patient and the data.
            raise KeyError(f"{patient_id} {PATIENT_NAME} {PATIENT_FAMILY}")

    app.extensions["cds_engine"] = Exploding()
    jwt_token = service_token(keys)
    response = app.test_client().post(SERVICE_PATH, json=hook_body(), headers=bearer(jwt_token))
    assert response.status_code == 500
    assert_clean(response.get_data(as_text=True), jwt_token)
    assert_clean(captured_logs.text, jwt_token)
