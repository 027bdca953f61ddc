"""What the CDS Hooks sandbox does that unit tests of the spec alone would not have caught.

Each test reproduces one behaviour of the sandbox (as read from its source and seen in the
end-to-end run) without a browser, so it runs in every `make test`.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask
from jwt.algorithms import ECAlgorithm

from cds_service.app import build_engine
from cds_service.settings import Settings
from tests.support.demo_fixtures import demo_bundles

SANDBOX_ORIGIN = "https://sandbox.cds-hooks.org"
SANDBOX_ISSUER = "https://sandbox.cds-hooks.org"
SANDBOX_JKU = "https://sandbox.cds-hooks.org/.well-known/jwks.json"
SERVICE_ID = "osteopenia-management"
FHIR_BASE = "http://127.0.0.1:9/fhir"  # never contacted: the prefetch is complete
BASE_URL = "http://127.0.0.1:8080"
KID = "sandbox-like-key"


# -- CORS: the sandbox is a browser app on another origin -------------------------------------


def test_preflight_of_the_sandbox_feedback_post_is_allowed(client) -> None:
    response = client.options(
        f"/cds-services/{SERVICE_ID}/feedback",
        headers={
            "Origin": SANDBOX_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] in ("*", SANDBOX_ORIGIN)
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    allowed = {h.strip() for h in response.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type"} <= allowed


def test_preflight_from_the_hosted_sandbox_may_reach_a_loopback_service(client) -> None:
    # Chromium's Private Network Access: https://sandbox.cds-hooks.org calling
    # http://127.0.0.1:8080 (make run / make demo) is only allowed when the preflight says so.
    response = client.options(
        "/cds-services",
        headers={
            "Origin": SANDBOX_ORIGIN,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
            "Access-Control-Request-Private-Network": "true",
        },
    )
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Private-Network"] == "true"


def test_private_network_access_is_only_granted_when_asked(client) -> None:
    response = client.options(
        "/cds-services",
        headers={"Origin": SANDBOX_ORIGIN, "Access-Control-Request-Method": "GET"},
    )
    assert response.status_code == 204
    assert "Access-Control-Allow-Private-Network" not in response.headers


# -- The sandbox's JWT, prefetch and feedback, with authentication on --------------------------


@pytest.fixture(scope="module")
def sandbox_like_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


@pytest.fixture
def sandbox_app(
    make_app: Callable[..., Flask], tmp_path: Path, sandbox_like_key: ec.EllipticCurvePrivateKey
) -> Flask:
    jwk = json.loads(ECAlgorithm.to_jwk(sandbox_like_key.public_key()))
    jwk.update({"kid": KID, "alg": "ES384", "use": "sig"})
    issuers = tmp_path / "issuers.json"
    issuers.write_text(
        json.dumps([{"iss": SANDBOX_ISSUER, "jwks": {"keys": [jwk]}, "fhir_servers": [FHIR_BASE]}])
    )
    return make_app(trusted_issuers_file=issuers)


def _sandbox_token(key: ec.EllipticCurvePrivateKey, audience: str) -> str:
    """Shaped like the sandbox's (jwt-generator.js): ES384, typ, kid and its public jku."""
    now = round(time.time())
    payload = {
        "iss": SANDBOX_ISSUER,
        "aud": audience,
        "exp": now + 300,
        "iat": now,
        "jti": str(uuid.uuid4()),
    }
    headers = {"typ": "JWT", "kid": KID, "jku": SANDBOX_JKU}
    return jwt.encode(payload, key, algorithm="ES384", headers=headers)


def _auth(key: ec.EllipticCurvePrivateKey, path: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {_sandbox_token(key, BASE_URL + path)}"}


def _sandbox_prefetch(definition: dict[str, Any], patient_id: str) -> dict[str, Any]:
    """Every prefetch key of our discovery document, answered as the sandbox does it."""
    resources = [e["resource"] for e in demo_bundles(date.today())[patient_id]["entry"]]
    prefetch: dict[str, Any] = {}
    for key, template in definition["prefetch"].items():
        resource_type = template.split("?")[0].split("/")[0]
        if "?" not in template:
            prefetch[key] = next(r for r in resources if r["resourceType"] == resource_type)
            continue
        matches = [r for r in resources if r["resourceType"] == resource_type]
        prefetch[key] = {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(matches),
            "entry": [{"resource": r} for r in matches],
        }
    return prefetch


def test_sandbox_jwt_with_its_public_jku_is_accepted_with_inline_keys(
    sandbox_app: Flask, sandbox_like_key: ec.EllipticCurvePrivateKey
) -> None:
    # The sandbox always names https://sandbox.cds-hooks.org/.well-known/jwks.json in jku. A
    # deployment that pins the sandbox's key inline never fetches it and must not refuse it.
    client = sandbox_app.test_client()
    response = client.get(
        "/cds-services", base_url=BASE_URL, headers=_auth(sandbox_like_key, "/cds-services")
    )
    assert response.status_code == 200, response.get_data(as_text=True)


def test_sandbox_hook_call_and_its_feedback_are_accepted_and_stored(
    sandbox_app: Flask, sandbox_like_key: ec.EllipticCurvePrivateKey
) -> None:
    client = sandbox_app.test_client()
    discovery = client.get(
        "/cds-services", base_url=BASE_URL, headers=_auth(sandbox_like_key, "/cds-services")
    ).get_json()
    (definition,) = [d for d in discovery["services"] if d["id"] == SERVICE_ID]
    path = f"/cds-services/{SERVICE_ID}"
    request = {
        "hookInstance": str(uuid.uuid4()),
        "hook": "patient-view",
        "fhirServer": FHIR_BASE,
        "context": {
            "patientId": "demo-treatment-indicated",
            "userId": "Practitioner/COREPRACTITIONER1",
        },
        "prefetch": _sandbox_prefetch(definition, "demo-treatment-indicated"),
    }
    answer = client.post(
        path, json=request, base_url=BASE_URL, headers=_auth(sandbox_like_key, path)
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)
    cards = answer.get_json()["cards"]
    treatment = next(c for c in cards if c["extension"]["urn:osteopenia-cds:rule"] == "R4")
    suggestion = treatment["suggestions"][0]
    reason = treatment["overrideReasons"][0]

    # card-list.jsx: acceptedSuggestions carry only the id; overrideReason.reason carries
    # code and system but no display; no userComment.
    feedback = {
        "feedback": [
            {
                "card": treatment["uuid"],
                "outcome": "accepted",
                "acceptedSuggestions": [{"id": suggestion["uuid"]}],
                "outcomeTimestamp": "2026-01-02T03:04:05.678Z",
            },
            {
                "card": treatment["uuid"],
                "outcome": "overridden",
                "overrideReason": {"reason": {"code": reason["code"], "system": reason["system"]}},
                "outcomeTimestamp": "2026-01-02T03:04:06.789Z",
            },
        ]
    }
    feedback_path = f"{path}/feedback"
    stored = client.post(
        feedback_path,
        json=feedback,
        base_url=BASE_URL,
        headers=_auth(sandbox_like_key, feedback_path),
    )
    assert stored.status_code == 200, stored.get_data(as_text=True)
    assert stored.get_json()["stored"] == 2
    assert stored.get_json()["unknownCards"] == 0


# -- draftOrders: the sandbox writes MedicationRequest.category as an object, not an array -----


def test_medication_request_with_category_as_an_object_still_counts_as_therapy() -> None:
    engine = build_engine(Settings())
    today = date.today()
    patient_id = "demo-bisphosphonate-review"
    resources = [e["resource"] for e in demo_bundles(today)[patient_id]["entry"]]
    for resource in resources:
        if resource["resourceType"] == "MedicationRequest":
            # As medication-reducers.js builds it (R4 says 0..* CodeableConcept).
            resource["category"] = {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/medicationrequest-category",
                        "code": "community",
                    }
                ]
            }
            resource["dispenseRequest"] = {
                "expectedSupplyDuration": {
                    "value": 90,
                    "unit": "days",
                    "system": "http://unitsofmeasure.org",
                    "code": "d",
                }
            }
    prefetch = {
        "everything": {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [{"resource": r} for r in resources],
        }
    }
    cards = engine.evaluate(prefetch, patient_id=patient_id, as_of=today)
    rules = sorted(c["extension"]["urn:osteopenia-cds:rule"] for c in cards)
    # Alendronate is still seen: a duration review (R7), and no "treatment indicated" (R4).
    assert "R7" in rules and "R4" not in rules, rules
