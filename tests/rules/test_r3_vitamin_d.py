"""R3: 25(OH)D below target (unit drives conversion), or no result within a year."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cds_service.engine import Engine
from cds_service.guideline.thresholds import load_thresholds

from . import fhir_builders as fb
from .conftest import Run
from .people import LAST_MONTH, days_ago, months_ago, woman


def _prefetch(pid: str, *labs: dict) -> dict:
    return fb.prefetch(woman(pid), fb.t_score(pid, "femur", -1.8, LAST_MONTH), *labs)


def test_r3_45_nmol_per_l_is_below_20_ng_per_ml(run: Run) -> None:
    pid = "r3-45nmol"
    cards = run(_prefetch(pid, fb.vitamin_d(pid, 45, LAST_MONTH, unit="nmol/L")), pid)
    card = cards["R3"]
    assert card["indicator"] == "warning"
    assert "45 nmol/L (= 18.0 ng/mL)" in card["summary"]
    assert "45 nmol/L ÷ 2.496 = 18.0 ng/mL" in card["detail"]
    assert "zoledronic acid or denosumab" in card["detail"]
    resource = card["suggestions"][0]["actions"][0]["resource"]
    assert resource["medicationCodeableConcept"]["coding"][0]["code"] == "705728"
    # one vitamin D order only: R2 leaves it to R3 (its calcium draft's ingredient coding)
    r2_codes = [
        s["actions"][0]["resource"]["medicationCodeableConcept"]["coding"][-1]["code"]
        for s in cards["R2"]["suggestions"]
    ]
    assert r2_codes == ["1897"]


def test_r3_60_nmol_per_l_meets_20_but_not_30(run: Run, tmp_path: Path) -> None:
    pid = "r3-60nmol"
    prefetch = _prefetch(pid, fb.vitamin_d(pid, 60, LAST_MONTH, unit="nmol/L"))
    assert "R3" not in run(prefetch, pid)
    override = tmp_path / "thresholds.json"
    override.write_text(json.dumps({"vitamin_d_target_ng_ml": 30}))
    strict = Engine(load_thresholds(override))
    cards = run(prefetch, pid, using=strict)
    assert "below the 30 ng/mL target" in cards["R3"]["summary"]


def test_r3_less_than_8_ng_per_ml_comparator(run: Run) -> None:
    pid = "r3-lt8"
    cards = run(_prefetch(pid, fb.vitamin_d(pid, 8, LAST_MONTH, comparator="<")), pid)
    assert "25(OH)D <8 ng/mL" in cards["R3"]["summary"]


def test_r3_greater_than_comparator_is_not_low(run: Run) -> None:
    pid = "r3-gt"
    cards = run(_prefetch(pid, fb.vitamin_d(pid, 15, LAST_MONTH, comparator=">")), pid)
    assert "R3" not in cards


@pytest.mark.parametrize(("value", "low"), [(19.9, True), (20.0, False)])
def test_r3_target_boundary(run: Run, value: float, low: bool) -> None:
    pid = f"r3-boundary-{value}".replace(".", "-")
    cards = run(_prefetch(pid, fb.vitamin_d(pid, value, LAST_MONTH)), pid)
    assert ("R3" in cards) is low


def test_r3_low_result_not_rechecked_orders_a_level(run: Run) -> None:
    """Version 2 re-testing: the last result was below target 13 months ago, never rechecked."""
    pid = "r3-stale"
    cards = run(_prefetch(pid, fb.vitamin_d(pid, 12, months_ago(13))), pid)
    card = cards["R3"]
    assert card["indicator"] == "warning"
    assert "recheck 25(OH)D" in card["summary"]
    resource = card["suggestions"][0]["actions"][0]["resource"]
    assert resource["resourceType"] == "ServiceRequest"
    assert resource["code"]["coding"][0] == {
        "system": "http://loinc.org",
        "code": "62292-8",
        "display": "25-Hydroxyvitamin D2+25-Hydroxyvitamin D3 [Mass/volume] in Serum or Plasma",
    }


def test_r3_deficiency_condition_without_low_bone_mass(run: Run) -> None:
    pid = "r3-deficiency"
    cards = run(
        fb.prefetch(
            woman(pid),
            fb.t_score(pid, "femur", -0.3, LAST_MONTH),
            fb.condition(pid, fb.SNOMED, "34713006", "Vitamin D deficiency", months_ago(20)),
        ),
        pid,
    )
    assert set(cards) == {"R3"}
    assert "vitamin D deficiency" in cards["R3"]["summary"]


def test_r3_already_on_vitamin_d_reviews_dose_without_new_order(run: Run) -> None:
    pid = "r3-on-d"
    cards = run(
        _prefetch(
            pid,
            fb.vitamin_d(pid, 14, LAST_MONTH),
            fb.medication_request(pid, "2418", "cholecalciferol", months_ago(6)),
        ),
        pid,
    )
    assert "review vitamin D dose" in cards["R3"]["summary"]
    assert "suggestions" not in cards["R3"]


def test_r3_entered_in_error_result_ignored(run: Run) -> None:
    pid = "r3-eie"
    cards = run(
        _prefetch(
            pid,
            fb.vitamin_d(pid, 10, LAST_MONTH, status="entered-in-error"),
            fb.vitamin_d(pid, 31, months_ago(2)),
        ),
        pid,
    )
    assert "R3" not in cards


def test_r3_resolved_deficiency_condition_does_not_count(run: Run) -> None:
    pid = "r3-deficiency-resolved"
    cards = run(
        fb.prefetch(
            woman(pid),
            fb.t_score(pid, "femur", -0.3, LAST_MONTH),
            fb.condition(
                pid, fb.ICD10, "E55.9", "Vitamin D deficiency", months_ago(20), clinical="resolved"
            ),
        ),
        pid,
    )
    assert cards == {}


def test_r3_d3_only_result_with_ergocalciferol_is_flagged(run: Run) -> None:
    pid = "r3-d3-only"
    cards = run(
        _prefetch(
            pid,
            fb.vitamin_d(pid, 15, LAST_MONTH, code="1989-3"),
            fb.medication_request(
                pid, "4018", "ergocalciferol 50000 UNT oral capsule", months_ago(4)
            ),
        ),
        pid,
    )
    assert "under-reports" in cards["R3"]["detail"]


@pytest.mark.parametrize(("days", "recheck"), [(89, False), (90, True)])
def test_r3_recheck_after_three_months_not_before(run: Run, days: int, recheck: bool) -> None:
    pid = f"r3-recheck-{days}"
    cards = run(_prefetch(pid, fb.vitamin_d(pid, 15, days_ago(days))), pid)
    labels = [s["label"] for s in cards["R3"]["suggestions"]]
    assert ("Order 25-hydroxyvitamin D level" in labels) is recheck


def test_r3_replete_patient_is_not_retested_yearly(run: Run) -> None:
    pid = "r3-replete-old"
    cards = run(_prefetch(pid, fb.vitamin_d(pid, 32, months_ago(30))), pid)
    assert "R3" not in cards


def test_r3_no_result_ever_orders_one(run: Run) -> None:
    pid = "r3-never"
    card = run(_prefetch(pid), pid)["R3"]
    assert card["indicator"] == "info" and "No 25(OH)D result on record" in card["summary"]
