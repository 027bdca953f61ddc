"""Draft orders as an EHR's ordering session sends them, and a runner of the order checks."""

from __future__ import annotations

from datetime import date
from typing import Any

from cds_service.engine import Engine
from tests.service.card_rules import violations

from . import fhir_builders as fb
from .card_rules import check_card
from .conftest import AS_OF


def draft_medication(
    pid: str,
    rid: str,
    name: str,
    *,
    code: str | None = None,
    per_day: int = 1,
    pills: float = 1,
    supply_days: int | None = None,
    route: str | None = None,
) -> dict[str, Any]:
    """A MedicationRequest draft shaped like the CDS Hooks sandbox's (pills × frequency)."""
    concept: dict[str, Any] = {"text": name}
    if code is not None:
        concept["coding"] = [{"system": fb.RXNORM, "code": code, "display": name}]
    dosage: dict[str, Any] = {
        "timing": {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}},
        "doseAndRate": [{"doseQuantity": {"value": pills, "system": fb.UCUM, "code": "{pill}"}}],
    }
    if route is not None:
        dosage["route"] = {"text": route}
    resource: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": "draft",
        "intent": "order",
        "subject": {"reference": f"Patient/{pid}"},
        "authoredOn": AS_OF.isoformat(),
        "medicationCodeableConcept": concept,
        "dosageInstruction": [dosage],
    }
    if supply_days is not None:
        resource["dispenseRequest"] = {
            "expectedSupplyDuration": {
                "value": supply_days,
                "unit": "days",
                "system": fb.UCUM,
                "code": "d",
            }
        }
    return resource


def draft_dxa(pid: str, rid: str = "draft-dxa") -> dict[str, Any]:
    return {
        "resourceType": "ServiceRequest",
        "id": rid,
        "status": "draft",
        "intent": "order",
        "subject": {"reference": f"Patient/{pid}"},
        "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "77080"}]},
    }


def session(*drafts: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": d} for d in drafts],
    }


ALENDRONATE_SCD = ("904396", "Alendronic acid 35 MG Oral Tablet")  # the sandbox's list
PREDNISONE_20_SCD = ("312615", "Prednisone 20 MG Oral Tablet")


def order_cards(
    engine: Engine,
    prefetch: dict[str, Any],
    pid: str,
    drafts: dict[str, Any],
    *,
    selections: list[str] | None = None,
    as_of: date = AS_OF,
) -> list[dict[str, Any]]:
    """Every card the order checks give, each checked as every card of ours is."""
    answer = engine.evaluate_orders(
        prefetch, drafts, patient_id=pid, as_of=as_of, selections=selections
    )
    found = violations({"cards": answer.cards})
    assert not found, f"cards break the CDS Hooks card model: {found}"
    for card in answer.cards:
        assert check_card(card, pid).startswith("O")
    return answer.cards


def rules_of(cards: list[dict[str, Any]]) -> list[str]:
    return [c["source"]["topic"]["code"] for c in cards]


def deleted(card: dict[str, Any]) -> list[str]:
    return [
        a["resourceId"]
        for s in card.get("suggestions", [])
        for a in s["actions"]
        if a["type"] == "delete"
    ]


def created(card: dict[str, Any]) -> list[str]:
    """The drafts a card offers to create, by their text."""
    texts = []
    for s in card.get("suggestions", []):
        for a in s["actions"]:
            if a["type"] == "create":
                resource = a["resource"]
                concept = resource.get("medicationCodeableConcept") or resource.get("code")
                texts.append(concept.get("text", ""))
    return texts
