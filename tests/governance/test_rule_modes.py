"""Rule modes of CDS_RULES_FILE: active, silent, off, and pilot groups by user and by issuer."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask

from cds_service.store.analytics import build_report
from tests.governance.conftest import SERVICE_URL, cards_by_rule, hook_request, logged

PILOT_USER = "Practitioner/7"
EHR_PILOT = "https://pilot-ehr.example.org"
EHR_OTHER = "https://other-ehr.example.org"


def test_every_rule_active_without_a_rules_file(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    assert set(cards_by_rule(app.test_client())) == {"R2", "R3", "R4"}
    assert Counter(logged(app)) == Counter(
        {("R2", "shown"): 1, ("R3", "shown"): 1, ("R4", "shown"): 1}
    )


def test_active_named_in_the_file_is_shown(make_app: Callable[..., Flask]) -> None:
    app = make_app({"rules": {"R2": "active", "R4": {"mode": "active"}}})
    assert set(cards_by_rule(app.test_client())) == {"R2", "R3", "R4"}


def test_silent_rule_is_logged_not_returned(make_app: Callable[..., Flask]) -> None:
    app = make_app({"rules": {"R2": "silent"}})
    client = app.test_client()
    assert set(cards_by_rule(client)) == {"R3", "R4"}
    assert ("R2", "silent") in logged(app)
    assert ("R2", "shown") not in logged(app)
    [r2] = [r for r in build_report(app.extensions["store"].engine).rules if r.rule == "R2"]
    assert (r2.issued, r2.shown, r2.silent, r2.suppressed) == (1, 0, 1, 0)


def test_off_rule_is_neither_returned_nor_logged(make_app: Callable[..., Flask]) -> None:
    app = make_app({"rules": {"R3": "off", "R4": {"mode": "off"}}})
    assert set(cards_by_rule(app.test_client())) == {"R2"}
    assert [rule for rule, _ in logged(app)] == ["R2"]


def test_pilot_by_user(make_app: Callable[..., Flask]) -> None:
    app = make_app({"rules": {"R4": {"mode": "active", "users": [PILOT_USER]}}})
    client = app.test_client()
    assert "R4" in cards_by_rule(client, hook_request(user=PILOT_USER))
    assert "R4" not in cards_by_rule(client, hook_request(user="Practitioner/8"))
    r4 = [d for rule, d in logged(app) if rule == "R4"]
    assert sorted(r4) == ["shown", "silent"]  # outside the group: silent by default


def test_pilot_others_off(make_app: Callable[..., Flask]) -> None:
    app = make_app({"rules": {"R4": {"mode": "active", "users": [PILOT_USER], "others": "off"}}})
    client = app.test_client()
    assert "R4" not in cards_by_rule(client, hook_request(user="Practitioner/8"))
    assert "R4" not in [rule for rule, _ in logged(app)]
    assert "R4" in cards_by_rule(client, hook_request(user=PILOT_USER))


# ------------------------------------------------------------------- pilot group by issuer


def _issuers_file(tmp_path: Path, key: Any) -> Path:
    public = jwt.algorithms.ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    jwks = {"keys": [{**public, "kid": "k1", "alg": "ES384", "use": "sig"}]}
    entries = [{"iss": iss, "jwks": jwks, "fhir_servers": []} for iss in (EHR_PILOT, EHR_OTHER)]
    path = tmp_path / "issuers.json"
    path.write_text(json.dumps(entries), encoding="utf-8")
    return path


def _bearer(key: Any, iss: str, path: str = SERVICE_URL) -> dict[str, str]:
    now = int(time.time())
    token = jwt.encode(
        {
            "iss": iss,
            "aud": f"http://localhost{path}",
            "iat": now,
            "exp": now + 300,
            "jti": str(uuid.uuid4()),
        },
        key,
        algorithm="ES384",
        headers={"kid": "k1", "typ": "JWT"},
    )
    return {"Authorization": f"Bearer {token}"}


def test_pilot_by_issuer(make_app: Callable[..., Flask], tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    app = make_app(
        {"rules": {"R2": {"mode": "active", "issuers": [EHR_PILOT]}}},
        trusted_issuers_file=_issuers_file(tmp_path, key),
    )
    client = app.test_client()
    assert "R2" in cards_by_rule(client, hook_request(), **_bearer(key, EHR_PILOT))
    assert "R2" not in cards_by_rule(client, hook_request(), **_bearer(key, EHR_OTHER))
    assert sorted(d for rule, d in logged(app) if rule == "R2") == ["shown", "silent"]
