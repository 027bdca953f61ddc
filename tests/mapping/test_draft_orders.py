"""Draft orders of an order hook read as facts: the same classification as the record, the
course an order describes, and every way a draft can be unreadable (never an error)."""

from __future__ import annotations

from datetime import date
from typing import Any

from fhir_mappings.draft_orders import DraftOrders, map_draft_orders, planned_days
from fhir_mappings.facts import DrugClass
from tests.rules.order_drafts import (
    ALENDRONATE_SCD,
    PREDNISONE_20_SCD,
    draft_dxa,
    draft_medication,
    session,
)

PID = "drafts"
AS_OF = date(2026, 11, 25)


def _read(*drafts: dict[str, Any], only: list[str] | None = None) -> DraftOrders:
    return map_draft_orders(session(*drafts), patient_id=PID, as_of=AS_OF, only=only)


def test_the_sandbox_drafts_are_classified_as_the_record_is() -> None:
    code, name = ALENDRONATE_SCD
    p_code, p_name = PREDNISONE_20_SCD
    found = _read(
        draft_medication(PID, "a", name, code=code),
        draft_medication(PID, "p", p_name, code=p_code, pills=2, supply_days=30),
        draft_dxa(PID, "d"),
    )
    by_ref = {d.reference: d for d in found.orders}
    assert by_ref["MedicationRequest/a"].drug_class is DrugClass.ORAL_BISPHOSPHONATE
    assert by_ref["MedicationRequest/a"].display == name  # once, as the clinician wrote it
    prednisone = by_ref["MedicationRequest/p"]
    assert prednisone.ingredient == "prednisone"
    assert prednisone.dose is not None and prednisone.dose.prednisone_mg_per_day == 40
    assert prednisone.planned_days == 30
    assert by_ref["ServiceRequest/d"].is_dxa
    assert found.unread == ()


def test_kidney_lab_orders_are_recognised() -> None:
    labs = draft_dxa(PID, "bmp")
    labs["code"] = {"coding": [{"system": "http://loinc.org", "code": "51990-0"}]}
    (order,) = _read(labs).orders
    assert order.is_kidney_labs and not order.is_dxa


def test_planned_days_prefer_the_timing_bounds_then_supply_times_fills() -> None:
    order = draft_medication(PID, "x", "prednisone 5 MG", supply_days=30)
    assert planned_days(order) == 30
    order["dispenseRequest"]["numberOfRepeatsAllowed"] = 2
    assert planned_days(order) == 90
    order["dosageInstruction"][0]["timing"]["repeat"]["boundsDuration"] = {
        "value": 6,
        "unit": "weeks",
        "code": "wk",
    }
    assert planned_days(order) == 42
    bounds = {"start": "2026-01-01", "end": "2026-03-31"}
    del order["dosageInstruction"][0]["timing"]["repeat"]["boundsDuration"]
    order["dosageInstruction"][0]["timing"]["repeat"]["boundsPeriod"] = bounds
    assert planned_days(order) == 90
    assert planned_days(draft_medication(PID, "y", "prednisone 5 MG")) is None


def test_unreadable_drafts_are_named_with_the_reason() -> None:
    unknown = draft_medication(PID, "u", "Compound XJ-9")
    refused = draft_medication(PID, "n", "alendronate 70 MG")
    refused["doNotPerform"] = True
    dose = draft_medication(PID, "g", "prednisone oral solution")
    dose["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["code"] = "drop"
    other = draft_dxa(PID, "s")
    other["code"] = {"coding": [{"system": "http://loinc.org", "code": "2093-3"}]}
    nutrition = {"resourceType": "NutritionOrder", "id": "diet", "status": "draft"}
    found = _read(unknown, refused, dose, other, nutrition)
    reasons = {u.reference: u.reason for u in found.unread}
    assert found.orders == ()
    assert reasons["MedicationRequest/u"] == "no medication code or name the checks know"
    assert reasons["MedicationRequest/n"] == "a do-not-perform order"
    assert reasons["MedicationRequest/g"].startswith("glucocorticoid dose not readable")
    assert reasons["ServiceRequest/s"] == "not a service the checks know"
    assert reasons["NutritionOrder/diet"] == "NutritionOrder is not checked"


def test_only_the_named_drafts_and_only_drafts_are_read() -> None:
    code, name = ALENDRONATE_SCD
    signed = draft_medication(PID, "signed", name, code=code)
    signed["status"] = "active"  # order-sign 1.1.0: an order re-signed after revision
    found = _read(
        draft_medication(PID, "a", name, code=code),
        draft_dxa(PID, "d"),
        signed,
        only=["ServiceRequest/d", "MedicationRequest/signed"],
    )
    assert [d.reference for d in found.orders] == ["ServiceRequest/d"]
