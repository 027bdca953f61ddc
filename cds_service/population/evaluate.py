"""One patient's NDJSON lines → the cards of the patient-view engine, as flat rows.

The engine is called through ``Engine.evaluate``, the entry the patient-view hook uses, with
the patient's resources as a prefetch of one searchset Bundle per resource type.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson

from cds_service.cards import RULE_SYSTEM
from fhir_mappings.dates import parse_date

from .records import medication_references

AGE_BANDS = ((0, 50, "<50"), (50, 65, "50–64"), (65, 75, "65–74"), (75, 85, "75–84"))
OLDEST_BAND = "85+"
UNKNOWN = "unknown"
CARD_COLUMNS = (
    "patient_id",
    "rule",
    "indicator",
    "summary",
    "orders",
    "sex",
    "age",
    "age_band",
    "as_of",
)
PATIENT_COLUMNS = ("patient_id", "sex", "age_band", "cards")


class NoPatientResource(ValueError):
    """The export holds resources for a patient id but no Patient resource with that id."""


@dataclass(frozen=True, slots=True)
class PatientResult:
    patient: tuple[Any, ...]  # PATIENT_COLUMNS
    cards: list[tuple[Any, ...]]  # CARD_COLUMNS


def age_on(birth: date | None, as_of: date) -> int | None:
    if birth is None or birth > as_of:
        return None
    return as_of.year - birth.year - ((as_of.month, as_of.day) < (birth.month, birth.day))


def age_band(age: int | None) -> str:
    if age is None:
        return UNKNOWN
    for low, high, label in AGE_BANDS:
        if low <= age < high:
            return label
    return OLDEST_BAND


def _sex(patient: Mapping[str, Any]) -> str:
    gender = patient.get("gender")
    return gender.strip().lower() if isinstance(gender, str) and gender.strip() else UNKNOWN


def _order_codes(card: Mapping[str, Any]) -> str:
    """``system|code`` of every draft order of a card, space-separated."""
    codes = []
    for suggestion in card.get("suggestions", ()):
        for action in suggestion.get("actions", ()):
            resource = action.get("resource") or {}
            concept = resource.get("medicationCodeableConcept") or resource.get("code") or {}
            codes += [f"{c.get('system')}|{c.get('code')}" for c in concept.get("coding", ())]
    return " ".join(codes)


def build_prefetch(
    resources: Iterable[dict[str, Any]], medications: Mapping[str, dict[str, Any]]
) -> dict[str, Any]:
    """One searchset Bundle per resource type, plus the Medications the orders point at."""
    by_type: dict[str, list[dict[str, Any]]] = {}
    wanted: set[str] = set()
    for resource in resources:
        by_type.setdefault(resource["resourceType"], []).append({"resource": resource})
        if medications:
            wanted.update(medication_references(resource))
    found = [{"resource": medications[ref]} for ref in sorted(wanted) if ref in medications]
    if found:
        by_type.setdefault("Medication", []).extend(found)
    return {
        rtype: {"resourceType": "Bundle", "type": "searchset", "entry": entries}
        for rtype, entries in by_type.items()
    }


def evaluate_patient(
    patient_id: str,
    lines: Iterable[str | bytes],
    *,
    as_of: date,
    engine: Any,
    medications: Mapping[str, dict[str, Any]],
) -> PatientResult:
    """Cards of one patient; raises NoPatientResource, or whatever the engine raises."""
    resources = [orjson.loads(line) for line in lines]
    patients = [
        r for r in resources if r["resourceType"] == "Patient" and r.get("id") == patient_id
    ]
    if not patients:
        raise NoPatientResource(
            f"{len(resources)} resources refer to Patient/{patient_id}, "
            "but the export has no Patient resource with that id"
        )
    patient = patients[0]
    prefetch = build_prefetch(resources, medications)
    cards = engine.evaluate(prefetch, patient_id=patient_id, as_of=as_of)
    sex = _sex(patient)
    age = age_on(parse_date(patient.get("birthDate")), as_of)
    band = age_band(age)
    rows = [
        (
            patient_id,
            str((card.get("extension") or {}).get(RULE_SYSTEM, "")),
            card["indicator"],
            card["summary"],
            _order_codes(card),
            sex,
            age,
            band,
            as_of.isoformat(),
        )
        for card in cards
    ]
    return PatientResult(patient=(patient_id, sex, band, len(rows)), cards=rows)
