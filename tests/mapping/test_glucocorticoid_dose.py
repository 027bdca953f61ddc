"""Glucocorticoid dose in prednisone-equivalent mg/day (clinical-spec §0.1) and administrations."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from fhir_mappings.facts import DrugClass, PeriodKind

from .builders import RXNORM, concept, facts_of, med_request


def _dose(**dosage: Any) -> dict[str, Any]:
    return {k: v for k, v in dosage.items() if v is not None}


def _structured(value: float, unit: str, frequency: int = 1, period: float = 1) -> dict:
    return {
        "doseAndRate": [{"doseQuantity": {"value": value, "unit": unit, "code": unit}}],
        "timing": {"repeat": {"frequency": frequency, "period": period, "periodUnit": "d"}},
    }


def _gc_dose(display: str, *dosages: dict) -> Any:
    order = med_request("g1", None, display, dosageInstruction=list(dosages))
    (episode,) = [e for e in facts_of(order).therapies if e.drug_class is DrugClass.GLUCOCORTICOID]
    return episode.periods[0].dose


@pytest.mark.parametrize(
    ("display", "dosages", "mg", "prednisone"),
    [
        ("prednisone 5 MG Oral Tablet", [_structured(10, "mg")], 10, 10),
        ("prednisone 5 MG Oral Tablet", [_structured(2, "{tbl}")], 10, 10),
        ("prednisone 5 MG Oral Tablet", [_structured(5, "mg", 2)], 10, 10),
        ("prednisone 5 MG Oral Tablet", [_structured(10, "mg", 1, 2)], 5, 5),
        ("prednisone 5 MG Oral Tablet", [{"text": "10 mg daily"}], 10, 10),
        ("prednisolone 5 MG Oral Tablet", [{"text": "10 mg AM, 5 mg PM"}], 15, 15),
        ("prednisone 5 MG Oral Tablet", [{"text": "2 tablets by mouth twice daily"}], 20, 20),
        ("hydrocortisone 10 MG Oral Tablet", [{"text": "15 mg AM, 5 mg PM"}], 20, 5),
        ("dexamethasone 0.5 MG Oral Tablet", [_structured(0.75, "mg")], 0.75, 5.0025),
        ("methylprednisolone 4 MG Oral Tablet", [_structured(4, "mg")], 4, 5),
        ("prednisone 1 MG Oral Tablet", [_structured(2.5, "mg")], 2.5, 2.5),
    ],
)
def test_daily_dose_in_prednisone_equivalents(
    display: str, dosages: list[dict], mg: float, prednisone: float
) -> None:
    dose = _gc_dose(display, *dosages)
    assert dose.mg_per_day == pytest.approx(mg)
    assert dose.prednisone_mg_per_day == pytest.approx(prednisone, abs=0.01)


def test_two_instructions_of_one_sequence_add_up() -> None:
    morning = _structured(10, "mg") | {"sequence": 1}
    evening = _structured(5, "mg") | {"sequence": 1}
    assert _gc_dose("prednisone 5 MG Oral Tablet", morning, evening).mg_per_day == 15


def test_unknown_unit_is_unreadable_and_says_so() -> None:
    dose = _gc_dose("prednisone 5 MG Oral Tablet", _structured(2, "puff"))
    assert dose.prednisone_mg_per_day is None and not dose.readable
    assert "'puff'" in dose.how


def test_no_dosage_is_dose_not_recorded() -> None:
    dose = _gc_dose("prednisone 5 MG Oral Tablet")
    assert dose.prednisone_mg_per_day is None and dose.readable
    assert dose.how == "dose not recorded"


def _administration(aid: str, code: str, when: str, status: str = "completed") -> dict:
    return {
        "resourceType": "MedicationAdministration",
        "id": aid,
        "status": status,
        "medicationCodeableConcept": concept(RXNORM, code),
        "effectiveDateTime": when,
    }


def test_administration_without_order_is_therapy() -> None:
    facts = facts_of(_administration("d1", "993449", "2025-01-10"))
    (episode,) = facts.therapies
    assert episode.periods[0].kind is PeriodKind.ADMINISTRATION


def test_active_order_without_administration_in_its_interval_is_not_given() -> None:
    """Administrations of denosumab exist; a later active order with none after it is an
    intention, not a dose."""
    facts = facts_of(
        _administration("d1", "993449", "2023-01-10"),
        med_request("m1", "993449", "denosumab", authored="2024-06-01"),
    )
    (episode,) = facts.therapies
    assert [p.source.reference for p in episode.periods] == ["MedicationAdministration/d1"]
    assert [(p.start, p.end) for p in episode.periods] == [(date(2023, 1, 10), date(2023, 7, 11))]


def test_in_progress_administration_counts_and_stopped_does_not() -> None:
    facts = facts_of(
        _administration("z1", "77655", "2025-02-01", status="in-progress"),
        _administration("z2", "77655", "2024-02-01", status="stopped"),
    )
    (episode,) = facts.therapies
    assert [p.source.reference for p in episode.periods] == ["MedicationAdministration/z1"]
