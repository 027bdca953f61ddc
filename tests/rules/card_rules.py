"""A checker every card of every rule test passes: the CDS Hooks card model (the Service SHALLs
checked by ``tests/service/card_rules.py``) plus this project's own rules for its cards."""

from __future__ import annotations

import json
import re
from typing import Any

from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.servicerequest import ServiceRequest

from tests.service.card_rules import violations

CARD_KEYS = {
    "uuid",
    "summary",
    "detail",
    "indicator",
    "source",
    "suggestions",
    "selectionBehavior",
    "overrideReasons",
    "links",
    "extension",
}
RULE_SYSTEM = "urn:osteopenia-cds:rule"
MODELS = {"MedicationRequest": MedicationRequest, "ServiceRequest": ServiceRequest}
RULE_ID = re.compile(r"^(R[0-9]{1,2}|O[1-7])$")
DRAFT_REFERENCE = re.compile(r"^[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}$")


def check_resource(resource: dict[str, Any], patient_id: str) -> None:
    """A draft order of ours: valid FHIR R4, a draft for this patient, coded."""
    kind = resource.get("resourceType")
    assert kind in MODELS, f"unexpected resource type {kind}"
    MODELS[kind].model_validate(resource)  # raises on any invalid element
    assert resource["status"] == "draft"
    assert resource["intent"] in ("proposal", "order")
    assert resource["subject"] == {"reference": f"Patient/{patient_id}"}
    if kind == "MedicationRequest":
        dosage = resource["dosageInstruction"][0]
        assert dosage["timing"]["repeat"]["frequency"] >= 1
        coding = resource["medicationCodeableConcept"]["coding"][0]
        assert coding["system"] == "http://www.nlm.nih.gov/research/umls/rxnorm"
    else:
        assert resource["code"]["coding"], "ServiceRequest without a code"


def check_card(card: dict[str, Any], patient_id: str) -> str:
    """Assert every rule of a well-formed card; return its rule id."""
    json.dumps(card, allow_nan=False)  # JSON-ready, no NaN
    found = violations({"cards": [card]})
    assert not found, f"card breaks the CDS Hooks card model: {found}"
    assert set(card) <= CARD_KEYS, f"unexpected card keys {set(card) - CARD_KEYS}"
    topic = card["source"]["topic"]
    assert topic["system"] == RULE_SYSTEM and RULE_ID.match(topic["code"]) and topic["display"]
    rule = card["extension"][RULE_SYSTEM]
    assert rule == topic["code"]
    detail = card.get("detail", "")
    assert "cured" not in (card["summary"] + detail).lower()
    if rule != "R0":
        assert "**References:**\n1. " in detail, "detail lacks numbered references"
    for suggestion in card.get("suggestions", []):
        for action in suggestion["actions"]:
            if action["type"] == "delete":
                # Only an order check takes back a draft, named as CDS Hooks 2.0.1 says.
                assert rule.startswith("O"), "a patient-view rule deleting a resource"
                assert DRAFT_REFERENCE.match(action["resourceId"]) and "resource" not in action
                continue
            assert action["type"] == "create", "the rules only draft new orders"
            check_resource(action["resource"], patient_id)
    for link in card.get("links", []):
        assert link["type"] in ("absolute", "smart")
    return rule


def check_cards(cards: list[dict[str, Any]], patient_id: str) -> dict[str, dict[str, Any]]:
    """Check every card, one per rule; return them by rule id."""
    found = violations({"cards": cards})  # uuids unique across cards and suggestions
    assert not found, f"cards break the CDS Hooks card model: {found}"
    by_rule: dict[str, dict[str, Any]] = {}
    for card in cards:
        rule = check_card(card, patient_id)
        assert rule not in by_rule, f"two cards for {rule}"
        by_rule[rule] = card
    return by_rule
