"""Real requests for the contract tests, the fuzzers' seeds and the soak.

Hook calls are built from FHIR data nobody on the project wrote for these tests: the demo
patients and the Synthea records in ``tests/fixtures``. Every resource of a record goes into
every prefetch key as one searchset Bundle (the mapping layer pools all keys and ignores what
it does not need), the Patient into ``patient``.
"""

from __future__ import annotations

import json
import uuid
from functools import lru_cache
from pathlib import Path
from typing import Any

from cds_service.discovery import find_service

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SERVICE_ID = "osteopenia-management"
SERVICE_URL = f"/cds-services/{SERVICE_ID}"


def prefetch_keys() -> list[str]:
    service = find_service(SERVICE_ID, "patient-view")
    assert service is not None
    return list(service.prefetch)


def fixture_files() -> list[Path]:
    return sorted((FIXTURES / "demo").glob("*.json")) + sorted(
        (FIXTURES / "synthea").glob("*.json")
    )


@lru_cache(maxsize=32)
def _resources(path: Path) -> tuple[dict[str, Any], ...]:
    bundle = json.loads(path.read_text("utf-8"))
    return tuple(
        entry["resource"]
        for entry in bundle.get("entry", [])
        if isinstance(entry, dict) and isinstance(entry.get("resource"), dict)
    )


def hook_request_for(path: Path, *, with_prefetch: bool = True) -> dict[str, Any]:
    resources = _resources(path)
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    request: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/contract-test", "patientId": patient["id"]},
    }
    if with_prefetch:
        request["prefetch"] = _prefetch(patient, resources)
    return request


def _prefetch(patient: dict[str, Any], resources: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    # Each resource goes to the first key whose query searches its type, as an EHR running the
    # templates would return it (without the code filters: the mapping picks by code itself).
    service = find_service(SERVICE_ID, "patient-view")
    assert service is not None
    entries: dict[str, list[dict[str, Any]]] = {key: [] for key in service.prefetch}
    key_of_type: dict[str, str] = {}
    for key, template in service.prefetch.items():
        key_of_type.setdefault(template.split("?")[0].split("/")[0], key)
    for resource in resources:
        key = key_of_type.get(resource["resourceType"])
        if key is not None and key != "patient":
            entries[key].append({"resource": resource})
    prefetch: dict[str, Any] = {}
    for key in service.prefetch:
        if key == "patient":
            prefetch[key] = patient
            continue
        bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
        if entries[key]:
            bundle["entry"] = entries[key]
        prefetch[key] = bundle
    return prefetch


def minimal_hook_request(patient_id: str = "contract-patient") -> dict[str, Any]:
    """All keys prefetched as "no data" except a Patient: the smallest complete call."""
    prefetch: dict[str, Any] = {key: None for key in prefetch_keys()}
    prefetch["patient"] = {
        "resourceType": "Patient",
        "id": patient_id,
        "gender": "female",
        "birthDate": "1958-02-01",
    }
    return {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/contract-test", "patientId": patient_id},
        "prefetch": prefetch,
    }


ORDER_SERVICES = {"order-select": "osteopenia-order-select", "order-sign": "osteopenia-order-sign"}


def draft_orders(patient_id: str) -> dict[str, Any]:
    """An ordering session as the CDS Hooks sandbox builds it: an oral bisphosphonate and a
    glucocorticoid from its medication list (RxNorm SCD), and a DXA."""

    def medication(rid: str, code: str, name: str, per_day: int, days: int) -> dict[str, Any]:
        return {
            "resourceType": "MedicationRequest",
            "id": rid,
            "status": "draft",
            "intent": "order",
            "subject": {"reference": f"Patient/{patient_id}"},
            "medicationCodeableConcept": {
                "text": name,
                "coding": [
                    {
                        "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                        "code": code,
                        "display": name,
                    }
                ],
            },
            "dosageInstruction": [
                {
                    "timing": {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}},
                    "doseAndRate": [
                        {
                            "doseQuantity": {
                                "value": 1,
                                "system": "http://unitsofmeasure.org",
                                "code": "{pill}",
                            }
                        }
                    ],
                }
            ],
            "dispenseRequest": {
                "expectedSupplyDuration": {
                    "value": days,
                    "unit": "days",
                    "system": "http://unitsofmeasure.org",
                    "code": "d",
                }
            },
        }

    dxa = {
        "resourceType": "ServiceRequest",
        "id": "draft-dxa",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": f"Patient/{patient_id}"},
        "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "77080"}]},
    }
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "resource": medication(
                    "draft-alendronate", "904396", "Alendronic acid 35 MG Oral Tablet", 1, 90
                )
            },
            {
                "resource": medication(
                    "draft-prednisone", "312615", "Prednisone 20 MG Oral Tablet", 1, 90
                )
            },
            {"resource": dxa},
        ],
    }


def order_request_for(path: Path, hook: str) -> dict[str, Any]:
    """``hook_request_for`` as an order hook: the record's data and a session of drafts."""
    request = hook_request_for(path)
    request["hook"] = hook
    drafts = draft_orders(request["context"]["patientId"])
    request["context"]["draftOrders"] = drafts
    if hook == "order-select":
        request["context"]["selections"] = ["MedicationRequest/draft-alendronate"]
    return request
