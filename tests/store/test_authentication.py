"""Feedback and analytics are authenticated like the hooks: a CDS Client's signed JWT."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask
from jwt.algorithms import ECAlgorithm

from tests.store.conftest import FEEDBACK_URL, card, overridden
from tests.store.helpers import feedback_rows, issue

ISSUER = "https://ehr.example.org"
KID = "store-test-key"


@pytest.fixture
def signing_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


@pytest.fixture
def secured_app(
    make_store_app: Any, tmp_path: Path, signing_key: ec.EllipticCurvePrivateKey
) -> Flask:
    public = json.loads(ECAlgorithm.to_jwk(signing_key.public_key()))
    public.update({"kid": KID, "alg": "ES384", "use": "sig"})
    issuers = tmp_path / "trusted-issuers.json"
    issuers.write_text(
        json.dumps(
            [
                {
                    "iss": ISSUER,
                    "jwks": {"keys": [public]},
                    "fhir_servers": ["https://ehr.example.org/fhir"],
                }
            ]
        )
    )
    app = make_store_app(trusted_issuers_file=issuers)
    issue(app, card("card-r2", "R2"))
    return app


def token(key: ec.EllipticCurvePrivateKey, audience: str) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": audience,
        "iat": now,
        "exp": now + 60,
        "jti": str(uuid.uuid4()),
    }
    return jwt.encode(claims, key, algorithm="ES384", headers={"kid": KID, "typ": "JWT"})


def test_feedback_without_a_token_is_401_and_stores_nothing(secured_app: Flask) -> None:
    response = secured_app.test_client().post(
        FEEDBACK_URL, json={"feedback": [overridden("card-r2")]}
    )
    assert response.status_code == 401
    assert feedback_rows(secured_app) == []


def test_analytics_without_a_token_is_401(secured_app: Flask) -> None:
    assert secured_app.test_client().get("/analytics").status_code == 401


def test_signed_feedback_is_stored_with_its_issuer(
    secured_app: Flask, signing_key: ec.EllipticCurvePrivateKey
) -> None:
    client = secured_app.test_client()
    bearer = token(signing_key, f"http://localhost{FEEDBACK_URL}")
    response = client.post(
        FEEDBACK_URL,
        json={"feedback": [overridden("card-r2")]},
        headers={"Authorization": f"Bearer {bearer}"},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    [row] = feedback_rows(secured_app)
    assert row["client_iss"] == ISSUER

    analytics = client.get(
        "/analytics",
        headers={"Authorization": f"Bearer {token(signing_key, 'http://localhost/analytics')}"},
    )
    assert analytics.status_code == 200
    assert analytics.get_json()["rules"][0]["overridden"] == 1


def test_token_for_another_endpoint_is_refused(
    secured_app: Flask, signing_key: ec.EllipticCurvePrivateKey
) -> None:
    bearer = token(signing_key, "http://localhost/cds-services/osteopenia-management")
    response = secured_app.test_client().post(
        FEEDBACK_URL,
        json={"feedback": [overridden("card-r2")]},
        headers={"Authorization": f"Bearer {bearer}"},
    )
    assert response.status_code == 401
    assert feedback_rows(secured_app) == []
