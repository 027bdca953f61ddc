"""Whatever arrives in the Authorization header, the answer is the same generic 401, never a
500, and a valid request right after still works."""

from __future__ import annotations

import base64
import json
import string
from typing import Any

import jwt
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.security.conftest import (
    BASE,
    DISCOVERY,
    EHR_A,
    Keys,
    assert_unauthorized,
    bearer,
    claims,
    make_token,
    unsigned_token,
)

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
_HEADER_VALUES = {
    "alg": st.sampled_from(["ES384", "RS384", "none", "HS256", "PS384", "", "es384"]) | _JSON,
    "kid": st.sampled_from(["a-es384-2026", "b-es384-1", ""]) | _JSON,
    "typ": st.sampled_from(["JWT", "jwt", "JOSE"]) | _JSON,
    "jku": st.sampled_from(["https://attacker.example/jwks", "file:///etc/passwd"]) | _JSON,
}
_CLAIM_VALUES = {
    "iss": st.sampled_from([EHR_A, "https://ehr-b.example.org", ""]) | _JSON,
    "aud": st.sampled_from([BASE + DISCOVERY, [BASE + DISCOVERY]]) | _JSON,
    "exp": st.integers(-(2**70), 2**70) | _JSON,
    "iat": st.integers(-(2**70), 2**70) | _JSON,
    "jti": st.text(max_size=300) | _JSON,
    "tenant": _JSON,
}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    header=st.fixed_dictionaries({}, optional=_HEADER_VALUES),
    payload=st.fixed_dictionaries({}, optional=_CLAIM_VALUES),
    signature=st.binary(max_size=120),
)
def test_structured_garbage_tokens(
    secure_app: Flask, header: dict[str, Any], payload: dict[str, Any], signature: bytes
) -> None:
    response = secure_app.test_client().get(
        DISCOVERY, headers=bearer(unsigned_token(header, payload, signature))
    )
    assert_unauthorized(response)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    raw=st.text(alphabet=string.printable, max_size=400)
    | st.lists(
        st.text(alphabet=string.ascii_letters + "-_=", max_size=60), min_size=2, max_size=5
    ).map(".".join)
    | st.binary(max_size=200).map(lambda b: f"{_b64(b)}.{_b64(b)}.{_b64(b)}")
)
def test_unstructured_garbage_tokens(secure_app: Flask, raw: str) -> None:
    raw = raw.replace("\n", " ").replace("\r", " ").replace("\x0b", " ").replace("\x0c", " ")
    response = secure_app.test_client().get(DISCOVERY, headers={"Authorization": f"Bearer {raw}"})
    assert_unauthorized(response)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    claim=st.sampled_from(sorted(_CLAIM_VALUES)),
    value=_JSON,
)
def test_validly_signed_tokens_with_odd_claims(
    secure_app: Flask, keys: Keys, claim: str, value: Any
) -> None:
    # Correct signature, one claim replaced by an arbitrary JSON value: 401 or 200, never 500.
    payload = {**claims(BASE + DISCOVERY), claim: value}
    token = jwt.api_jws.PyJWS().encode(
        json.dumps(payload).encode(),
        keys.a_es.private,
        algorithm="ES384",
        headers={"kid": keys.a_es.kid, "typ": "JWT"},
    )
    response = secure_app.test_client().get(DISCOVERY, headers=bearer(token))
    if response.status_code != 200:
        assert_unauthorized(response)


def test_header_oddities(secure_app: Flask, keys: Keys) -> None:
    client = secure_app.test_client()
    good = make_token(keys.a_es)
    for value in (
        "Bearer",
        "Bearer ",
        "bearer",
        f"Bearer {good} {good}",
        f"Bearer\t{good}x",
        "Bearer " + "A" * 60_000,
        f"Bearer {good[:-4]}",
        "Bearer " + json.dumps(claims(BASE + DISCOVERY)),
        "Bearer " + unsigned_token({"alg": "ES384", "kid": keys.a_es.kid}, {"iss": [EHR_A]}),
    ):
        assert_unauthorized(client.get(DISCOVERY, headers={"Authorization": value}))
    # The scheme name is case-insensitive (RFC 7235).
    assert client.get(DISCOVERY, headers={"Authorization": f"bearer {good}"}).status_code == 200


def test_non_finite_numbers_in_claims(secure_app: Flask, keys: Keys) -> None:
    # Python's JSON reader accepts NaN and Infinity, which no JSON producer should send.
    client = secure_app.test_client()
    for claim, literal in (("exp", "Infinity"), ("iat", "NaN"), ("exp", "-Infinity")):
        payload = json.dumps(claims(BASE + DISCOVERY)).replace(
            f'"{claim}": ', f'"{claim}": {literal}, "_{claim}": '
        )
        token = jwt.api_jws.PyJWS().encode(
            payload.encode(), keys.a_es.private, algorithm="ES384", headers={"kid": keys.a_es.kid}
        )
        assert_unauthorized(client.get(DISCOVERY, headers=bearer(token)))
    assert client.get(DISCOVERY, headers=bearer(make_token(keys.a_es))).status_code == 200
