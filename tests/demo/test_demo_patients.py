"""The demo patients say what they are meant to say, whatever today's date is."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from cds_service.app import build_engine
from cds_service.settings import Settings
from tests.support.demo_fixtures import (
    ANCHOR,
    DEMO_DIR,
    DEMO_PATIENTS,
    demo_bundles,
    shifted_bundle,
)

ALL_RULES = {f"R{n}" for n in range(1, 11)}


@pytest.fixture(scope="module")
def engine() -> Any:
    return build_engine(Settings())


def _prefetch(bundle: dict[str, Any]) -> dict[str, Any]:
    entries = [{"resource": entry["resource"]} for entry in bundle["entry"]]
    return {"everything": {"resourceType": "Bundle", "type": "searchset", "entry": entries}}


def test_every_rule_that_can_speak_has_a_demo_patient() -> None:
    covered = {rule for patient in DEMO_PATIENTS for rule in patient.rules}
    assert covered == ALL_RULES
    assert any(not patient.rules for patient in DEMO_PATIENTS), "a silent patient too"


def test_each_file_holds_one_patient_and_only_its_data() -> None:
    files = sorted(p.stem for p in DEMO_DIR.glob("*.json"))
    assert files == sorted(p.patient_id for p in DEMO_PATIENTS)
    for patient in DEMO_PATIENTS:
        bundle = json.loads((DEMO_DIR / f"{patient.patient_id}.json").read_text())
        assert bundle["resourceType"] == "Bundle" and bundle["type"] == "transaction"
        patients = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"]
        assert [e["resource"]["id"] for e in patients] == [patient.patient_id]
        for entry in bundle["entry"]:
            resource = entry["resource"]
            assert entry["request"] == {
                "method": "PUT",
                "url": f"{resource['resourceType']}/{resource['id']}",
            }
            if resource["resourceType"] != "Patient":
                assert resource["subject"] == {"reference": f"Patient/{patient.patient_id}"}


def test_dates_move_with_today_and_nothing_else_does() -> None:
    path = DEMO_DIR / "demo-treatment-indicated.json"
    original = json.loads(path.read_text())
    later = shifted_bundle(path, ANCHOR + timedelta(days=400))
    assert shifted_bundle(path, ANCHOR) == original

    def by_id(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
        return {e["resource"]["id"]: e["resource"] for e in bundle["entry"]}

    before, after = by_id(original), by_id(later)
    patient = "demo-treatment-indicated"
    assert before[patient]["birthDate"] == "1957-09-03"
    assert after[patient]["birthDate"] == "1958-10-08"
    assert before[f"{patient}-vitd"]["effectiveDateTime"] == "2025-11-02T08:00:00Z"
    assert after[f"{patient}-vitd"]["effectiveDateTime"] == "2026-12-07T08:00:00Z"
    assert after[f"{patient}-osteopenia"]["onsetDateTime"] == "2026-07-25"
    # Codes, values and references are not dates and stay as they are.
    assert after[f"{patient}-frax-mof"]["code"] == before[f"{patient}-frax-mof"]["code"]
    assert after[f"{patient}-frax-mof"]["valueQuantity"]["value"] == 21.0
    assert after[f"{patient}-vitd"]["subject"] == {"reference": f"Patient/{patient}"}


@pytest.mark.parametrize("days_after_anchor", [0, 330, 3 * 365 + 17])
def test_each_demo_patient_gets_the_cards_of_its_rules(engine: Any, days_after_anchor: int) -> None:
    today = ANCHOR + timedelta(days=days_after_anchor)
    bundles = demo_bundles(today)
    for patient in DEMO_PATIENTS:
        cards = engine.evaluate(
            _prefetch(bundles[patient.patient_id]), patient_id=patient.patient_id, as_of=today
        )
        rules = sorted(card["extension"]["urn:osteopenia-cds:rule"] for card in cards)
        assert rules == sorted(patient.rules), (patient.patient_id, today, cards)
