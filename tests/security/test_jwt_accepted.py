"""Correctly signed requests succeed on every protected endpoint; what is public stays public."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask, g
from flask.testing import FlaskClient

from tests.security.conftest import (
    ANALYTICS_PATH,
    BASE,
    DISCOVERY,
    EHR_A,
    EHR_B,
    FEEDBACK_PATH,
    SERVICE_PATH,
    Keys,
    LocalHttpServer,
    assert_unauthorized,
    bearer,
    hook_body,
    jwk_set,
    make_token,
)


@pytest.mark.parametrize("which", ["a_es", "a_rs", "b_es"])
def test_req_205_es384_and_rs384_accepted_on_every_endpoint(
    client: FlaskClient, keys: Keys, which: str
) -> None:
    key = getattr(keys, which)
    iss = EHR_B if which == "b_es" else EHR_A
    assert key.alg in {"ES384", "RS384"}

    response = client.get(DISCOVERY, headers=bearer(make_token(key, iss=iss)))
    assert response.status_code == 200
    assert response.get_json()["services"]

    token = make_token(key, iss=iss, aud=BASE + SERVICE_PATH)
    response = client.post(SERVICE_PATH, json=hook_body(), headers=bearer(token))
    assert response.status_code == 200, response.get_data(as_text=True)
    card = response.get_json()["cards"][0]

    feedback = {
        "feedback": [
            {
                "card": card["uuid"],
                "outcome": "overridden",
                "outcomeTimestamp": "2026-01-02T03:04:05Z",
            }
        ]
    }
    token = make_token(key, iss=iss, aud=BASE + FEEDBACK_PATH)
    response = client.post(FEEDBACK_PATH, json=feedback, headers=bearer(token))
    assert response.status_code == 200, response.get_data(as_text=True)

    token = make_token(key, iss=iss, aud=BASE + ANALYTICS_PATH)
    response = client.get(ANALYTICS_PATH, headers=bearer(token))
    assert response.status_code == 200, response.get_data(as_text=True)


def test_req_189_aud_as_an_array(client: FlaskClient, keys: Keys) -> None:
    token = make_token(keys.a_es, aud=["https://other.example.org/x", BASE + DISCOVERY])
    assert client.get(DISCOVERY, headers=bearer(token)).status_code == 200


def test_aud_host_and_default_port_compare_canonically(client: FlaskClient, keys: Keys) -> None:
    token = make_token(keys.a_es, aud="HTTP://LOCALHOST:80/cds-services")
    assert client.get(DISCOVERY, headers=bearer(token)).status_code == 200


def test_extra_claims_tolerated(client: FlaskClient, keys: Keys) -> None:
    # Epic sends sub and nbf, which CDS Hooks 2.0 does not define.
    now = int(time.time())
    token = make_token(keys.a_rs, sub="client-id-123", nbf=now - 5, scope="x")
    assert client.get(DISCOVERY, headers=bearer(token)).status_code == 200


def test_cds_client_is_set_for_the_handlers(secure_app: Flask, keys: Keys) -> None:
    seen: dict[str, Any] = {}

    @secure_app.after_request
    def remember(response: Any) -> Any:
        client = g.get("cds_client")
        if client is not None:
            seen.update(iss=client.iss, fhir_servers=client.fhir_servers, tenant=client.tenant)
        return response

    response = secure_app.test_client().get(DISCOVERY, headers=bearer(make_token(keys.a_es)))
    assert response.status_code == 200
    assert seen["iss"] == EHR_A
    assert seen["fhir_servers"] and seen["fhir_servers"][0].endswith("/fhir")
    assert seen["tenant"] is None


def test_public_paths_and_preflight_need_no_token(client: FlaskClient) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code in (200, 503)
    response = client.options(
        SERVICE_PATH,
        headers={
            "Origin": "https://sandbox.cds-hooks.org",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert response.status_code in (200, 204)
    assert "authorization" in response.headers.get("Access-Control-Allow-Headers", "").lower()


def test_readyz_reports_authentication_on(client: FlaskClient) -> None:
    checks = client.get("/readyz").get_json()["checks"]
    auth = next(c for c in checks if c["name"] == "authentication")
    assert auth["ok"] is True
    assert "JWT required" in auth["detail"]


def test_401_carries_cors_headers_for_browser_clients(client: FlaskClient) -> None:
    response = client.get(DISCOVERY, headers={"Origin": "https://sandbox.cds-hooks.org"})
    assert_unauthorized(response)
    assert response.headers.get("Access-Control-Allow-Origin")


# ----------------------------------------------------------------- tenants, sub, proxies


def test_req_193_tenant_bound_entries(
    make_secure_app: Callable[..., Flask], keys: Keys, jwks: LocalHttpServer
) -> None:
    # One identity provider, two organisations, each with its own FHIR server.
    entries = [
        {
            "iss": EHR_B,
            "tenant": "org-1",
            "jwks": jwk_set(keys.b_es),
            "fhir_servers": ["https://org1.example.org/fhir"],
        },
        {
            "iss": EHR_B,
            "tenant": "org-2",
            "jwks": jwk_set(keys.b_es),
            "fhir_servers": ["https://org2.example.org/fhir"],
        },
    ]
    client = make_secure_app(entries).test_client()
    for tenant in ("org-1", "org-2"):
        token = make_token(keys.b_es, iss=EHR_B, tenant=tenant)
        assert client.get(DISCOVERY, headers=bearer(token)).status_code == 200
    for bad in ({"tenant": "org-3"}, {}, {"tenant": 7}):
        assert_unauthorized(
            client.get(DISCOVERY, headers=bearer(make_token(keys.b_es, iss=EHR_B, **bad)))
        )


def test_configured_sub_must_match(make_secure_app: Callable[..., Flask], keys: Keys) -> None:
    entries = [
        {"iss": EHR_B, "sub": "our-client-id", "jwks": jwk_set(keys.b_es), "fhir_servers": []}
    ]
    client = make_secure_app(entries).test_client()
    good = make_token(keys.b_es, iss=EHR_B, sub="our-client-id")
    assert client.get(DISCOVERY, headers=bearer(good)).status_code == 200
    for bad in ({"sub": "someone-else"}, {}):
        assert_unauthorized(
            client.get(DISCOVERY, headers=bearer(make_token(keys.b_es, iss=EHR_B, **bad)))
        )


def test_forwarded_headers_ignored_unless_trusted(client: FlaskClient, keys: Keys) -> None:
    token = make_token(keys.a_es, aud="https://cds.example.org/cds-services")
    headers = {
        **bearer(token),
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "cds.example.org",
    }
    assert_unauthorized(client.get(DISCOVERY, headers=headers))


def test_forwarded_headers_used_when_trusted(
    make_secure_app: Callable[..., Flask], issuer_entries: list[Any], keys: Keys
) -> None:
    client = make_secure_app(issuer_entries, trust_proxy_headers=True).test_client()
    token = make_token(keys.a_es, aud="https://cds.example.org/cds-services")
    headers = {
        **bearer(token),
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "cds.example.org",
    }
    assert client.get(DISCOVERY, headers=headers).status_code == 200
    # Behind the proxy, the internal URL is no longer the audience.
    token = make_token(keys.a_es, aud=BASE + DISCOVERY)
    assert_unauthorized(client.get(DISCOVERY, headers={**headers, **bearer(token)}))


def test_req_199_jwks_exchanged_out_of_band(
    client: FlaskClient, keys: Keys, jwks: LocalHttpServer
) -> None:
    # EHR B's JWK Set was handed over out of band (inline in the trusted-issuers file); its
    # tokens carry no jku and nothing is fetched to verify them.
    token = make_token(keys.b_es, iss=EHR_B)
    import jwt

    assert "jku" not in jwt.get_unverified_header(token)
    assert client.get(DISCOVERY, headers=bearer(token)).status_code == 200
    assert jwks.requests == []
    # EHR A publishes its set at a URL configured out of band; no jku either.
    assert client.get(DISCOVERY, headers=bearer(make_token(keys.a_es))).status_code == 200
    assert [r.path for r in jwks.requests] == ["/a/jwks.json"]


def test_public_base_urls_pin_the_audience(
    make_secure_app: Callable[..., Flask], issuer_entries: list[Any], keys: Keys
) -> None:
    app = make_secure_app(
        issuer_entries, public_base_urls=("https://cds.example.org", "https://cds2.example.org")
    )
    client = app.test_client()
    # A token another service (cds-other.example.net) received from the EHR, replayed here
    # with that service's Host header: refused, since the audience is pinned.
    stolen = make_token(keys.a_es, aud="http://cds-other.example.net/cds-services")
    assert_unauthorized(
        client.get(DISCOVERY, headers={**bearer(stolen), "Host": "cds-other.example.net"})
    )
    for public in ("https://cds.example.org", "https://cds2.example.org"):
        token = make_token(keys.a_es, aud=public + DISCOVERY)
        assert client.get(DISCOVERY, headers=bearer(token)).status_code == 200


def test_without_pinning_the_host_header_names_the_audience(
    client: FlaskClient, keys: Keys
) -> None:
    # Documented behaviour when CDS_PUBLIC_BASE_URLS is unset (development, the sandbox).
    token = make_token(keys.a_es, aud="http://cds.internal:8080/cds-services")
    response = client.get(DISCOVERY, headers={**bearer(token), "Host": "cds.internal:8080"})
    assert response.status_code == 200
