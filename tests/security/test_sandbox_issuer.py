"""The example issuer file for the CDS Hooks sandbox is valid, and a token shaped exactly like
the sandbox's (header and claims as its JWT generator builds them) passes with it."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from cds_service.security.issuers import load_trusted_issuers
from cds_service.security.jwks import JwksCache
from cds_service.security.replay import ReplayCache
from cds_service.security.verifier import AuthError, JwtVerifier
from tests.security.conftest import SigningKey, jwk_set

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "sandbox-issuers.example.json"
SANDBOX_ISS = "https://sandbox.cds-hooks.org"
SANDBOX_JKU = "https://sandbox.cds-hooks.org/.well-known/jwks.json"
SANDBOX_KID = "44823f3d-0b01-4a6c-a80e-b9d3e8a7226f"
DISCOVERY_URL = "http://localhost:8080/cds-services"


@pytest.fixture(scope="module")
def stand_in_key() -> SigningKey:
    # Our own P-384 key under the sandbox's kid: the check is of the shape, not of its key.
    return SigningKey(SANDBOX_KID, "ES384", ec.generate_private_key(ec.SECP384R1()))


def _verifier(stand_in_key: SigningKey, fetched: list[str]) -> JwtVerifier:
    def fetch(url: str) -> dict[str, Any]:
        fetched.append(url)
        assert url == SANDBOX_JKU
        return jwk_set(stand_in_key)

    return JwtVerifier(
        load_trusted_issuers(EXAMPLE, production=True),
        algorithms=("ES384", "RS384"),
        clock_skew_seconds=60,
        max_lifetime_seconds=3600,
        replay=ReplayCache(100),
        jwks_cache=JwksCache(fetch=fetch),
    )


def _sandbox_token(key: SigningKey, audience: str) -> str:
    now = round(time.time())
    payload = {
        "iss": SANDBOX_ISS,
        "aud": audience,
        "exp": now + 300,
        "iat": now,
        "jti": str(uuid.uuid4()),
    }
    header = {"alg": "ES384", "typ": "JWT", "kid": SANDBOX_KID, "jku": SANDBOX_JKU}
    return jwt.encode(payload, key.private, algorithm="ES384", headers=header)


def test_example_file_is_valid_even_for_production() -> None:
    registry = load_trusted_issuers(EXAMPLE, production=True)
    (entry,) = list(registry)
    assert entry.iss == SANDBOX_ISS
    assert entry.jwks_urls == (SANDBOX_JKU,)
    assert all(url.startswith("https://") for url in entry.fhir_servers)


def test_sandbox_shaped_tokens_pass_for_discovery_service_and_feedback(
    stand_in_key: SigningKey,
) -> None:
    fetched: list[str] = []
    verifier = _verifier(stand_in_key, fetched)
    service = f"{DISCOVERY_URL}/osteopenia-management"
    for audience in (DISCOVERY_URL, service, f"{service}/feedback"):
        client = verifier.verify(_sandbox_token(stand_in_key, audience), audience)
        assert client.iss == SANDBOX_ISS
        assert client.tenant is None
    assert fetched == [SANDBOX_JKU]


def test_sandbox_token_for_another_url_is_refused(stand_in_key: SigningKey) -> None:
    verifier = _verifier(stand_in_key, [])
    token = _sandbox_token(stand_in_key, DISCOVERY_URL)
    with pytest.raises(AuthError) as err:
        verifier.verify(token, f"{DISCOVERY_URL}/osteopenia-management")
    assert err.value.reason == "audience_mismatch"
