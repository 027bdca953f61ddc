"""One test per attack on the CDS Client JWT: each is a 401 without detail, and the next valid
request still succeeds (a refusal must not poison any cache or state).

Tests named ``test_req_<ID>_...`` cover that row of the CDS Hooks 2.0 requirements CSV.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient

from tests.security.conftest import (
    ATTACKER,
    BASE,
    DISCOVERY,
    EHR_A,
    EHR_B,
    SERVICE_PATH,
    Keys,
    LocalHttpServer,
    LogCapture,
    assert_unauthorized,
    bearer,
    claims,
    hs256_with_public_key,
    make_token,
    unsigned_token,
    valid_discovery,
)

Refused = Callable[[str | None, str], None]


@pytest.fixture
def refused(client: FlaskClient, keys: Keys, captured_logs: LogCapture) -> Refused:
    """``refused(token, reason)``: the token gets the generic 401, the log names ``reason``
    (so the test proves which check stopped it), and a valid request right after succeeds."""

    def check(token: str | None, reason: str) -> None:
        headers = bearer(token) if token is not None else {}
        before = len(captured_logs.lines)
        assert_unauthorized(client.get(DISCOVERY, headers=headers))
        reasons = [
            json.loads(line)["reason"]
            for line in captured_logs.lines[before:]
            if '"event":"auth_rejected"' in line
        ]
        assert reasons, "the refusal was not logged"
        assert reason in reasons[0], f"refused for {reasons[0]!r}, expected {reason!r}"
        ok = valid_discovery(client, keys.a_es)
        assert ok.status_code == 200, ok.get_data(as_text=True)
        assert ok.get_json()["services"]

    return check


def test_req_178_no_authorization_header(refused: Refused, keys: Keys) -> None:
    refused(None, "missing_bearer")


def test_req_178_authorization_scheme_not_bearer(client: FlaskClient, keys: Keys) -> None:
    token = make_token(keys.a_es)
    assert_unauthorized(client.get(DISCOVERY, headers={"Authorization": f"Basic {token}"}))
    assert valid_discovery(client, keys.a_es).status_code == 200


def test_req_176_not_a_jwt(refused: Refused, keys: Keys) -> None:
    refused("not-a-jwt", "malformed_token")
    refused("a.b.c", "malformed_token")
    refused("x" * 20_000, "malformed_token")


def test_req_201_alg_none(refused: Refused, keys: Keys) -> None:
    token = unsigned_token(
        {"alg": "none", "typ": "JWT", "kid": keys.a_es.kid}, claims(BASE + DISCOVERY)
    )
    refused(token, "alg_not_allowed")
    # Spelling variants some libraries once accepted.
    for alg in ("None", "NONE", "nOnE"):
        token = unsigned_token(
            {"alg": alg, "typ": "JWT", "kid": keys.a_es.kid}, claims(BASE + DISCOVERY)
        )
        refused(token, "alg_not_allowed")


def test_req_203_hs256_signed_with_the_public_key(refused: Refused, keys: Keys) -> None:
    refused(hs256_with_public_key(keys.a_es, claims(BASE + DISCOVERY)), "alg_not_allowed")
    refused(hs256_with_public_key(keys.b_es, claims(BASE + DISCOVERY, EHR_B)), "alg_not_allowed")


def test_req_180_signed_with_the_wrong_key(refused: Refused, keys: Keys) -> None:
    # The attacker's own key, presented under EHR A's kid.
    refused(make_token(keys.attacker_same_kid), "bad_signature")
    # Same for the inline issuer.
    forged = make_token(keys.attacker, iss=EHR_B, header={"kid": keys.b_es.kid})
    refused(forged, "bad_signature")


def test_req_180_tampered_payload(refused: Refused, keys: Keys) -> None:
    good = make_token(keys.a_es)
    head, _payload, sig = good.split(".")
    other = make_token(keys.a_es, aud=BASE + SERVICE_PATH).split(".")[1]
    refused(f"{head}.{other}.{sig}", "bad_signature")


def test_req_182_unknown_kid(refused: Refused, keys: Keys, jwks: LocalHttpServer) -> None:
    refused(make_token(keys.a_es, header={"kid": "no-such-kid"}), "unknown_kid")
    refused(make_token(keys.b_es, iss=EHR_B, header={"kid": "nope"}), "unknown_kid")


def test_req_182_missing_kid(refused: Refused, keys: Keys) -> None:
    token = make_token(keys.a_es)
    import jwt

    payload = jwt.decode(token, options={"verify_signature": False})
    no_kid = jwt.encode(payload, keys.a_es.private, algorithm="ES384", headers={"typ": "JWT"})
    assert "kid" not in jwt.get_unverified_header(no_kid)
    refused(no_kid, "missing_kid")


def test_req_183_kid_of_another_issuer(refused: Refused, keys: Keys) -> None:
    # B's valid key and kid, but claiming to be A: the kid must belong to the claimed issuer.
    refused(make_token(keys.b_es, iss=EHR_A), "unknown_kid")
    # A's key and kid, claiming to be B.
    refused(make_token(keys.a_es, iss=EHR_B), "unknown_kid")


def test_req_190_expired(refused: Refused, keys: Keys) -> None:
    now = int(time.time())
    # Beyond the 60 s clock skew.
    token = make_token(keys.a_es, iat=now - 600, exp=now - 120)
    refused(token, "expired")


def test_req_190_exp_missing(refused: Refused, keys: Keys) -> None:
    refused(make_token(keys.a_es, drop=("exp",)), "missing_claim")


def test_req_190_exp_within_clock_skew_is_accepted(client: FlaskClient, keys: Keys) -> None:
    now = int(time.time())
    token = make_token(keys.a_es, iat=now - 300, exp=now - 20)
    assert client.get(DISCOVERY, headers=bearer(token)).status_code == 200


def test_req_191_iat_in_the_future(refused: Refused, keys: Keys) -> None:
    now = int(time.time())
    token = make_token(keys.a_es, iat=now + 600, exp=now + 900)
    refused(token, "iat_in_future")


def test_req_191_iat_missing(refused: Refused, keys: Keys) -> None:
    refused(make_token(keys.a_es, drop=("iat",)), "missing_claim")


def test_token_lifetime_longer_than_allowed(refused: Refused, keys: Keys) -> None:
    now = int(time.time())
    token = make_token(keys.a_es, iat=now, exp=now + 7 * 24 * 3600)
    refused(token, "lifetime_too_long")


def test_req_196_wrong_aud(refused: Refused, keys: Keys) -> None:
    refused(
        make_token(keys.a_es, aud="https://other.example.org/cds-services"), "audience_mismatch"
    )
    refused(make_token(keys.a_es, aud=f"https://localhost{DISCOVERY}"), "audience_mismatch")
    refused(make_token(keys.a_es, aud=f"{BASE}{DISCOVERY}/"), "audience_mismatch")


def test_req_189_aud_missing(refused: Refused, keys: Keys) -> None:
    refused(make_token(keys.a_es, drop=("aud",)), "missing_claim")


def test_req_196_aud_of_another_service(client: FlaskClient, keys: Keys) -> None:
    from tests.security.conftest import hook_body

    # A token minted for another service of this host must not open this one.
    token = make_token(keys.a_es, aud=f"{BASE}/cds-services/another-service")
    response = client.post(SERVICE_PATH, json=hook_body(), headers=bearer(token))
    assert_unauthorized(response)
    # Nor a discovery token, nor a feedback token.
    for aud in (BASE + DISCOVERY, f"{BASE}{SERVICE_PATH}/feedback"):
        response = client.post(
            SERVICE_PATH, json=hook_body(), headers=bearer(make_token(keys.a_es, aud=aud))
        )
        assert_unauthorized(response)
    ok = client.post(
        SERVICE_PATH,
        json=hook_body(),
        headers=bearer(make_token(keys.a_es, aud=BASE + SERVICE_PATH)),
    )
    assert ok.status_code == 200, ok.get_data(as_text=True)


def test_req_192_replayed_jti(client: FlaskClient, refused: Refused, keys: Keys) -> None:
    token = make_token(keys.a_es)
    assert client.get(DISCOVERY, headers=bearer(token)).status_code == 200
    refused(token, "replayed_jti")
    # A different token reusing the jti is a replay too.
    first = make_token(keys.a_es, jti="fixed-jti-1")
    assert client.get(DISCOVERY, headers=bearer(first)).status_code == 200
    refused(make_token(keys.a_es, jti="fixed-jti-1"), "replayed_jti")


def test_req_192_jti_missing_or_not_a_string(refused: Refused, keys: Keys) -> None:
    refused(make_token(keys.a_es, drop=("jti",)), "missing_claim")
    refused(make_token(keys.a_es, jti=12345), "invalid_claims")
    refused(make_token(keys.a_es, jti=""), "bad_jti")


def test_req_192_jti_is_per_issuer(client: FlaskClient, keys: Keys) -> None:
    jti = str(uuid.uuid4())
    assert client.get(DISCOVERY, headers=bearer(make_token(keys.a_es, jti=jti))).status_code == 200
    # The same nonce from another issuer is not a replay.
    token_b = make_token(keys.b_es, iss=EHR_B, jti=jti)
    assert client.get(DISCOVERY, headers=bearer(token_b)).status_code == 200


def test_req_187_untrusted_iss(refused: Refused, keys: Keys, jwks: LocalHttpServer) -> None:
    token = make_token(keys.attacker, iss=ATTACKER, header={"jku": jwks.url("/attacker/jwks.json")})
    refused(token, "untrusted_issuer")
    refused(make_token(keys.a_es, iss="https://ehr-a.example.org/"), "untrusted_issuer")
    refused(make_token(keys.a_es, drop=("iss",)), "missing_claim")
    assert jwks.hits("/attacker/") == 0


def test_req_195_jku_off_the_list(refused: Refused, keys: Keys, jwks: LocalHttpServer) -> None:
    token = make_token(keys.attacker, header={"jku": jwks.url("/attacker/jwks.json")})
    refused(token, "jku_not_trusted")
    # Same host, same port as the trusted URL, but another path.
    token = make_token(keys.attacker, header={"jku": jwks.url("/a/jwks.json?x=1")})
    refused(token, "jku_not_trusted")
    # The key set named by the untrusted jku was never fetched.
    assert jwks.hits("/attacker/") == 0
    assert all(r.path == "/a/jwks.json" for r in jwks.requests)


def test_req_195_jku_on_the_list_is_used(
    client: FlaskClient, keys: Keys, jwks: LocalHttpServer
) -> None:
    token = make_token(keys.a_es, header={"jku": jwks.url("/a/jwks.json")})
    assert client.get(DISCOVERY, headers=bearer(token)).status_code == 200


def test_req_195_jku_ignored_for_an_inline_key_set(
    refused: Refused, keys: Keys, jwks: LocalHttpServer
) -> None:
    # B's keys are configured inline: a jku is never fetched, the attacker's set never used.
    token = make_token(keys.attacker, iss=EHR_B, header={"jku": jwks.url("/attacker/jwks.json")})
    refused(token, "unknown_kid")
    assert jwks.hits("/attacker/") == 0


def test_req_184_typ_other_than_jwt(refused: Refused, keys: Keys) -> None:
    refused(make_token(keys.a_es, header={"typ": "at+jwt"}), "bad_typ")


def test_alg_outside_the_configured_list(refused: Refused, keys: Keys) -> None:
    # ES256 is an asymmetric algorithm, but not configured (ES384 and RS384 by default).
    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec

    p256 = ec.generate_private_key(ec.SECP256R1())
    token = jwt.encode(
        claims(BASE + DISCOVERY), p256, algorithm="ES256", headers={"kid": keys.a_es.kid}
    )
    refused(token, "alg_not_allowed")


def test_alg_not_matching_the_key(refused: Refused, keys: Keys) -> None:
    # RS384 header naming A's EC key: the key type must fit the algorithm.
    token = make_token(keys.a_rs, header={"kid": keys.a_es.kid})
    refused(token, "alg_key_mismatch")


def test_crit_header_is_refused(refused: Refused, keys: Keys) -> None:
    token = make_token(keys.a_es, header={"crit": ["exp"]})
    refused(token, "malformed_token")


def test_attacks_on_every_protected_endpoint(client: FlaskClient, keys: Keys) -> None:
    from tests.security.conftest import ANALYTICS_PATH, FEEDBACK_PATH, hook_body

    for method, path, body in (
        ("GET", DISCOVERY, None),
        ("POST", SERVICE_PATH, hook_body()),
        ("POST", FEEDBACK_PATH, {"feedback": []}),
        ("GET", ANALYTICS_PATH, None),
        ("POST", "/cds-services/unknown-service", hook_body()),
    ):
        for token in (None, make_token(keys.a_es, aud="https://elsewhere.example/x")):
            headers = bearer(token) if token else {}
            response = client.open(path, method=method, json=body, headers=headers)
            assert_unauthorized(response)
