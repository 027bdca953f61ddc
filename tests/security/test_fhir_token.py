"""Where the EHR's FHIR access token may go: only to a fhirServer on the caller's allow-list,
never to a redirect target, and a fhirServer off the list is not even connected to."""

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
    EHR_A,
    EHR_B,
    SERVICE_PATH,
    ConnectionCounter,
    Keys,
    LocalHttpServer,
    bearer,
    hook_body,
    jwk_set,
    make_token,
)


def fetch_body(fhir_server: str) -> dict[str, Any]:
    """A call with no prefetch at all: everything must be fetched from ``fhir_server``."""
    return hook_body(
        prefetch=...,
        fhirServer=fhir_server,
        fhirAuthorization={
            "access_token": ACCESS_TOKEN,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "osteopenia-cds",
        },
    )


def call(client: FlaskClient, keys: Keys, body: dict[str, Any], iss: str = EHR_A) -> Any:
    key = keys.b_es if iss == EHR_B else keys.a_es
    token = make_token(key, iss=iss, aud=BASE + SERVICE_PATH)
    return client.post(SERVICE_PATH, json=body, headers=bearer(token))


def assert_refused_without_connection(response: Any, counter: ConnectionCounter) -> None:
    assert response.status_code in (400, 412), response.get_data(as_text=True)
    text = response.get_data(as_text=True)
    assert ACCESS_TOKEN not in text
    assert "fhirServer" in text or "FHIR server" in text
    assert counter.connections_so_far() == 0


def test_req_60_token_goes_to_the_registered_fhir_server(
    client: FlaskClient, keys: Keys, fhir_server: LocalHttpServer
) -> None:
    response = call(client, keys, fetch_body(fhir_server.url("/fhir")))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert fhir_server.requests, "the fall-back fetch did not reach the FHIR server"
    for recorded in fhir_server.requests:
        assert recorded.headers.get("Authorization") == f"Bearer {ACCESS_TOKEN}"


@pytest.mark.parametrize(
    "make_url",
    [
        lambda c, f: f"http://127.0.0.1:{c.port}/fhir",  # another server
        lambda c, f: f"http://localhost:{c.port}/fhir",
        lambda c, f: f"http://127.0.0.1:{f.port}@127.0.0.1:{c.port}/fhir",  # userinfo disguise
        lambda c, f: f"http://127.0.0.1:{c.port}/fhir#{f.url('/fhir')}",
        lambda c, f: f"http://127.0.0.1:{c.port}\\@127.0.0.1:{f.port}/fhir",
    ],
    ids=["other-port", "other-host", "userinfo", "fragment", "backslash"],
)
def test_fhir_server_off_the_list_is_never_contacted(
    client: FlaskClient,
    keys: Keys,
    counter: ConnectionCounter,
    fhir_server: LocalHttpServer,
    make_url: Callable[[ConnectionCounter, LocalHttpServer], str],
) -> None:
    response = call(client, keys, fetch_body(make_url(counter, fhir_server)))
    assert_refused_without_connection(response, counter)
    assert not fhir_server.requests
    # The next valid request still works and reaches the registered server.
    ok = call(client, keys, fetch_body(fhir_server.url("/fhir")))
    assert ok.status_code == 200


def test_fhir_server_of_another_issuer_is_refused(
    make_secure_app: Callable[..., Flask],
    keys: Keys,
    jwks: LocalHttpServer,
    counter: ConnectionCounter,
) -> None:
    # Counter's URL is registered for A, not for B: B may not send A's server.
    entries = [
        {
            "iss": EHR_A,
            "jwks_url": jwks.url("/a/jwks.json"),
            "fhir_servers": [f"http://127.0.0.1:{counter.port}/fhir"],
        },
        {"iss": EHR_B, "jwks": jwk_set(keys.b_es), "fhir_servers": []},
    ]
    client = make_secure_app(entries).test_client()
    response = call(client, keys, fetch_body(f"http://127.0.0.1:{counter.port}/fhir"), iss=EHR_B)
    assert_refused_without_connection(response, counter)


@pytest.fixture
def redirector() -> Iterator[LocalHttpServer]:
    server = LocalHttpServer()
    yield server
    server.close()


@pytest.fixture
def elsewhere() -> Iterator[LocalHttpServer]:
    server = LocalHttpServer()
    server.routes["/"] = lambda _p: (200, {"Content-Type": "application/fhir+json"}, b"{}")
    yield server
    server.close()


def test_redirect_to_another_host_does_not_carry_the_token(
    make_secure_app: Callable[..., Flask],
    keys: Keys,
    jwks: LocalHttpServer,
    redirector: LocalHttpServer,
    elsewhere: LocalHttpServer,
    captured_logs: Any,
) -> None:
    target = elsewhere.url("/fhir/stolen", host="localhost")
    redirector.routes["/fhir/"] = lambda _p: (302, {"Location": target}, b"")
    entries = [
        {
            "iss": EHR_A,
            "jwks_url": jwks.url("/a/jwks.json"),
            "fhir_servers": [redirector.url("/fhir")],
        }
    ]
    client = make_secure_app(entries).test_client()
    response = call(client, keys, fetch_body(redirector.url("/fhir")))
    assert response.status_code == 412, response.get_data(as_text=True)
    assert redirector.requests  # the registered server was asked, with the token
    assert all(
        r.headers.get("Authorization") == f"Bearer {ACCESS_TOKEN}" for r in redirector.requests
    )
    assert elsewhere.requests == []  # and the redirect target never was
    assert ACCESS_TOKEN not in response.get_data(as_text=True)
    assert ACCESS_TOKEN not in captured_logs.text


def test_req_20_production_refuses_http_fhir_server(
    make_secure_app: Callable[..., Flask], keys: Keys, counter: ConnectionCounter
) -> None:
    entries = [
        {
            "iss": EHR_B,
            "jwks": jwk_set(keys.b_es),
            "fhir_servers": [f"https://127.0.0.1:{counter.port}/fhir"],
        }
    ]
    client = make_secure_app(entries, environment="production").test_client()
    response = call(client, keys, fetch_body(f"http://127.0.0.1:{counter.port}/fhir"), iss=EHR_B)
    assert_refused_without_connection(response, counter)


def test_auth_off_fhir_servers_setting_limits_the_fetch(
    make_secure_app: Callable[..., Flask],
    keys: Keys,
    counter: ConnectionCounter,
    fhir_server: LocalHttpServer,
) -> None:
    app = make_secure_app(None, fhir_servers=(fhir_server.url("/fhir"),))
    client = app.test_client()
    response = client.post(SERVICE_PATH, json=fetch_body(f"http://127.0.0.1:{counter.port}/fhir"))
    assert_refused_without_connection(response, counter)
    ok = client.post(SERVICE_PATH, json=fetch_body(fhir_server.url("/fhir") + "/"))
    assert ok.status_code == 200, ok.get_data(as_text=True)
    assert all(
        r.headers.get("Authorization") == f"Bearer {ACCESS_TOKEN}" for r in fhir_server.requests
    )


def test_auth_off_without_a_list_any_fhir_server(
    make_secure_app: Callable[..., Flask], fhir_server: LocalHttpServer
) -> None:
    client = make_secure_app(None).test_client()
    ok = client.post(SERVICE_PATH, json=fetch_body(fhir_server.url("/fhir")))
    assert ok.status_code == 200, ok.get_data(as_text=True)
    assert fhir_server.requests


def test_refusal_body_names_no_secret(
    client: FlaskClient, keys: Keys, counter: ConnectionCounter
) -> None:
    response = call(client, keys, fetch_body(f"http://127.0.0.1:{counter.port}/fhir"))
    body = json.dumps(response.get_json())
    assert ACCESS_TOKEN not in body
    assert "Bearer" not in body


def test_req_002_168_production_answers_412_to_an_http_fhir_server(
    make_secure_app: Callable[..., Flask], keys: Keys, counter: ConnectionCounter
) -> None:
    """REQ-2, REQ-168 at the endpoint: in production the EHR's allow-listed server, named
    over http instead of https, gets a 412 that says why, and no connection is opened."""
    allowed = f"https://127.0.0.1:{counter.port}/fhir"
    entries = [{"iss": EHR_B, "jwks": jwk_set(keys.b_es), "fhir_servers": [allowed]}]
    client = make_secure_app(entries, environment="production").test_client()
    response = call(client, keys, fetch_body(allowed.replace("https://", "http://")), iss=EHR_B)
    assert response.status_code == 412, response.get_data(as_text=True)
    assert "fhirServer must use https in production" in response.get_data(as_text=True)
    assert ACCESS_TOKEN not in response.get_data(as_text=True)
    assert counter.connections_so_far() == 0
