"""A checker every card of every rule test passes: CDS Hooks 2.0.1 §5 plus this project's rules."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any
from urllib.parse import urlparse

from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.servicerequest import ServiceRequest

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
RULE_ID = re.compile(r"^R[0-9]$")


def _no_empty(value: Any, path: str) -> None:
    assert value is not None, f"{path} is null"
    if isinstance(value, str):
        assert value.strip() != "", f"{path} is an empty string"
    elif isinstance(value, list):
        assert value, f"{path} is an empty list"
        for i, item in enumerate(value):
            _no_empty(item, f"{path}[{i}]")
    elif isinstance(value, dict):
        assert value, f"{path} is an empty object"
        for key, item in value.items():
            _no_empty(item, f"{path}.{key}")


def _absolute(url: str) -> bool:
    parsed = urlparse(url)
    return parsed.scheme in ("http", "https") and bool(parsed.netloc)


def _uuid(value: Any, what: str) -> str:
    assert isinstance(value, str), f"{what} uuid missing"
    assert str(uuid.UUID(value)) == value, f"{what} uuid not canonical: {value}"
    return value


def check_resource(resource: dict[str, Any], patient_id: str) -> None:
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
    _no_empty(card, "card")
    assert set(card) <= CARD_KEYS, f"unexpected card keys {set(card) - CARD_KEYS}"
    _uuid(card.get("uuid"), "card")
    summary = card["summary"]
    assert isinstance(summary, str) and 0 < len(summary) < 140, f"summary length {len(summary)}"
    assert card["indicator"] in ("info", "warning", "critical")
    source = card["source"]
    assert isinstance(source["label"], str) and source["label"].strip()
    if "url" in source:
        assert _absolute(source["url"]), source["url"]
    topic = source["topic"]
    assert topic["system"] == RULE_SYSTEM and RULE_ID.match(topic["code"]) and topic["display"]
    rule = card["extension"][RULE_SYSTEM]
    assert rule == topic["code"]
    detail = card.get("detail", "")
    assert "cured" not in (summary + detail).lower()
    if rule not in ("R0",):
        assert "**References:**\n1. " in detail, "detail lacks numbered references"
    suggestions = card.get("suggestions", [])
    seen: set[str] = set()
    if suggestions:
        assert card["selectionBehavior"] in ("any", "at-most-one")
    else:
        assert "selectionBehavior" not in card
    for suggestion in suggestions:
        assert suggestion["label"].strip()
        seen.add(_uuid(suggestion.get("uuid"), "suggestion"))
        assert suggestion["actions"]
        for action in suggestion["actions"]:
            assert action["type"] == "create"
            assert action["description"].strip()
            check_resource(action["resource"], patient_id)
    assert len(seen) == len(suggestions), "suggestion uuids repeat"
    for reason in card.get("overrideReasons", []):
        assert reason["system"] and reason["code"] and reason["display"]
    for link in card.get("links", []):
        assert link["label"].strip() and _absolute(link["url"])
        assert link["type"] in ("absolute", "smart")
        if link["type"] == "absolute":
            assert "appContext" not in link
    return rule


def check_cards(cards: list[dict[str, Any]], patient_id: str) -> dict[str, dict[str, Any]]:
    """Check every card, one per rule; return them by rule id."""
    by_rule: dict[str, dict[str, Any]] = {}
    for card in cards:
        rule = check_card(card, patient_id)
        assert rule not in by_rule, f"two cards for {rule}"
        by_rule[rule] = card
    uuids = [c["uuid"] for c in cards]
    assert len(set(uuids)) == len(uuids), "card uuids repeat"
    return by_rule
