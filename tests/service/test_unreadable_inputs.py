"""Unreadable or contradictory v2 inputs through the endpoint (clinical-spec §0.1): an eGFR with
no unit, a calcium in an unknown unit, a glucocorticoid dose in an unknown unit. None decides a
gate; the cards say the value could not be read; the answer is 200, never a 5xx."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from flask import Flask

from .conftest import PATIENT_ID, SERVICE_URL, hook_body, searchset

LOINC = "http://loinc.org"


def _observation(oid: str, code: str, value: Any, unit: str | None) -> dict[str, Any]:
    quantity: dict[str, Any] = {"value": value}
    if unit is not None:
        quantity["unit"] = unit
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
        # the service evaluates as of today: the results are a month old
        "effectiveDateTime": (date.today() - timedelta(days=30)).isoformat(),
        "valueQuantity": quantity,
    }


def test_unreadable_values_are_named_and_never_5xx(make_app: Callable[..., Flask]) -> None:
    client = make_app().test_client()
    body = hook_body()
    prefetch = body["prefetch"]
    prefetch["patient"]["birthDate"] = "1950-01-01"
    prefetch["conditions"] = searchset(
        {
            "resourceType": "Condition",
            "id": "menopause",
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "289903006"}]},
            "subject": {"reference": f"Patient/{PATIENT_ID}"},
            "onsetDateTime": "2005-01-01",
        }
    )
    prefetch["boneDensity"] = searchset(_observation("t", "38267-1", -2.8, "{T-score}"))
    prefetch["labs"] = searchset(
        _observation("egfr", "98979-8", 22, None),
        _observation("ca", "17861-6", 7.9, "mEq/L"),
        _observation("cr", "2160-0", "high", "mg/dL"),
    )
    prefetch["medicationRequests"] = searchset(
        {
            "resourceType": "MedicationRequest",
            "id": "pred",
            "status": "active",
            "intent": "order",
            "medicationCodeableConcept": {"text": "prednisone 5 MG Oral Tablet"},
            "subject": {"reference": f"Patient/{PATIENT_ID}"},
            "authoredOn": (date.today() - timedelta(days=200)).isoformat(),
            "dosageInstruction": [
                {
                    "doseAndRate": [{"doseQuantity": {"value": 2, "unit": "puff"}}],
                    "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
                }
            ],
        }
    )
    response = client.post(SERVICE_URL, json=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    cards = {c["extension"]["urn:osteopenia-cds:rule"]: c for c in response.get_json()["cards"]}
    r4 = cards["R4"]
    # the eGFR of 22 has no unit: it decides nothing, the drafts stay with the kidney lab
    assert "could not be read" in r4["detail"] and "Observation/egfr" in r4["detail"]
    assert "Observation/ca" in r4["detail"]
    assert len(r4["suggestions"]) == 2
    assert "could not be read" in cards["R8"]["summary"]
