"""R10 osteoporosis screening (USPSTF 2025): ages, sexes, risk factors and risk tools."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from typing import Any

import pytest

import fhir_mappings
from cds_service.engine import Engine
from cds_service.guideline.assessment import assess
from cds_service.guideline.recommendation import Recommendation
from cds_service.guideline.screening import osteoporosis_screening
from cds_service.guideline.thresholds import load_thresholds

from . import fhir_builders as fb
from .conftest import AS_OF, Run
from .people import LAST_MONTH, man, months_ago, woman

SMOKER = ("449868002", "Current every day smoker")


@pytest.mark.parametrize(("age", "due"), [(64, False), (65, True)])
def test_r10_women_from_65(run: Run, age: int, due: bool) -> None:
    pid = f"r10-w-{age}"
    cards = run(fb.prefetch(woman(pid, age)), pid)
    assert ("R10" in cards) is due
    if due:
        card = cards["R10"]
        assert card["indicator"] == "info"
        assert card["summary"].startswith("Osteoporosis screening due")
        dxa = card["suggestions"][0]["actions"][0]["resource"]
        assert dxa["reasonCode"] == [{"text": "Osteoporosis screening, USPSTF 2025"}]


def test_r10_not_after_a_dxa_or_for_treated_patients(run: Run) -> None:
    pid = "r10-had-dxa"
    cards = run(fb.prefetch(woman(pid, 70), fb.t_score(pid, "femur", -0.5, months_ago(80))), pid)
    assert "R10" not in cards
    pid = "r10-treated"
    drug = fb.medication_request(pid, "46041", "alendronate", months_ago(3))
    assert "R10" not in run(fb.prefetch(woman(pid, 70), drug), pid)


def test_r10_men_only_when_turned_on() -> None:
    pid = "r10-man-70"
    prefetch = fb.prefetch(man(pid, 70))
    off = Engine(load_thresholds())
    assert off.evaluate(prefetch, patient_id=pid, as_of=AS_OF) == []
    on = Engine(load_thresholds())
    on.thresholds = dataclasses.replace(on.thresholds, screening_men_enabled=1)
    (card,) = on.evaluate(prefetch, patient_id=pid, as_of=AS_OF)
    assert card["source"]["topic"]["code"] == "R10"
    pid = "r10-man-69"
    assert on.evaluate(fb.prefetch(man(pid, 69)), patient_id=pid, as_of=AS_OF) == []


def test_r10_women_50_to_64_without_a_risk_factor_get_nothing(run: Run) -> None:
    pid = "r10-w-58"
    assert run(fb.prefetch(woman(pid, 58)), pid) == {}


def test_r10_risk_factor_without_a_tool_result_asks_for_frax(run: Run) -> None:
    pid = "r10-w-58-smoker"
    cards = run(fb.prefetch(woman(pid, 58), fb.smoking(pid, *SMOKER, LAST_MONTH)), pid)
    card = cards["R10"]
    assert "estimate fracture risk, FRAX without BMD" in card["summary"]
    assert "suggestions" not in card and card["links"]


@pytest.mark.parametrize(
    ("tool", "due"),
    [
        (("frax", 8.4), True),
        (("frax", 8.3), False),
        (("ost", 1.9), True),
        (("ost", 2.0), False),
    ],
)
def test_r10_risk_factor_and_a_tool_result(run: Run, tool: tuple[str, float], due: bool) -> None:
    kind, value = tool
    pid = f"r10-{kind}-{value}".replace(".", "-")
    result = (
        fb.frax(pid, "major", value, LAST_MONTH)
        if kind == "frax"
        else fb.ost(pid, value, LAST_MONTH)
    )
    cards = run(
        fb.prefetch(woman(pid, 58), fb.smoking(pid, *SMOKER, LAST_MONTH), result),
        pid,
    )
    assert ("R10" in cards) is due
    if due:
        assert cards["R10"]["summary"].startswith("Osteoporosis screening due: postmenopausal")


def test_r10_under_52_without_recorded_menopause_is_not_postmenopausal(run: Run) -> None:
    pid = "r10-w-51"
    cards = run(fb.prefetch(woman(pid, 51), fb.smoking(pid, *SMOKER, LAST_MONTH)), pid)
    assert "R10" not in cards


def _r10(pid: str, *resources: dict[str, Any]) -> Recommendation | None:
    """R10 alone, as one function of the facts (in a response it yields to a card that
    drafts the scan for its own reason)."""
    facts = fhir_mappings.build_facts(fb.prefetch(*resources), patient_id=pid, as_of=AS_OF)
    return osteoporosis_screening(assess(facts, AS_OF, load_thresholds()))


@pytest.mark.parametrize(("days", "factor"), [(89, False), (90, True)])
def test_r10_glucocorticoids_count_from_90_days(days: int, factor: bool) -> None:
    pid = f"r10-gc-{days}"
    start = AS_OF - timedelta(days=days - 1)  # both ends of the course count
    steroid = fb.medication_statement(pid, "8640", "prednisone", start, AS_OF)
    rec = _r10(pid, woman(pid, 58), steroid)
    assert (rec is not None) is factor
    if rec is not None:
        assert "glucocorticoids" in rec.summary


def _bmi(pid: str, value: float, unit: str = "kg/m2", when: date = LAST_MONTH) -> dict:
    return fb.body_mass_index(pid, value, when, unit)


@pytest.mark.parametrize(("bmi", "factor"), [(20.0, True), (20.1, False), (17.5, True)])
def test_r10_low_body_weight_is_a_bmi_of_20_or_less(run: Run, bmi: float, factor: bool) -> None:
    """CMS249's low-body-weight risk factor: a latest BMI at or below 20 kg/m²; with no risk
    tool result the card asks for FRAX without BMD and names the BMI it rests on."""
    pid = f"r10-bmi-{bmi}".replace(".", "-")
    cards = run(fb.prefetch(woman(pid, 58), _bmi(pid, bmi)), pid)
    assert ("R10" in cards) is factor
    if factor:
        card = cards["R10"]
        assert "with low body weight: estimate fracture risk" in card["summary"]
        assert f"Body mass index: **{bmi:g} kg/m²**, {LAST_MONTH}, Observation/" in card["detail"]


def test_r10_low_body_weight_and_frax_above_threshold_drafts_the_scan(run: Run) -> None:
    pid = "r10-bmi-frax"
    cards = run(
        fb.prefetch(woman(pid, 60), _bmi(pid, 19.0), fb.frax(pid, "major", 9.1, LAST_MONTH)),
        pid,
    )
    card = cards["R10"]
    assert card["summary"].startswith("Osteoporosis screening due: postmenopausal, low body")
    assert card["suggestions"][0]["actions"][0]["resource"]["code"]["coding"][0]["code"] == "77080"


def test_r10_only_the_latest_bmi_counts(run: Run) -> None:
    pid = "r10-bmi-latest"
    old_low = _bmi(pid, 19.0, when=months_ago(30))
    cards = run(fb.prefetch(woman(pid, 58), old_low, _bmi(pid, 23.4)), pid)
    assert "R10" not in cards


@pytest.mark.parametrize(
    ("value", "unit", "reason"),
    [
        (19.0, "lb/in2", "unit 'lb/in2' not recognised"),
        (2.0, "kg/m2", "2 kg/m² is outside 8-120"),
    ],
)
def test_r10_unreadable_bmi_decides_nothing(value: float, unit: str, reason: str) -> None:
    pid = "r10-bmi-unreadable"
    facts = fhir_mappings.build_facts(
        fb.prefetch(woman(pid, 58), _bmi(pid, value, unit)), patient_id=pid, as_of=AS_OF
    )
    assert facts.body_mass_index is None
    (unreadable,) = facts.unreadable
    assert unreadable.what == "Body mass index" and unreadable.reason == reason
    assert osteoporosis_screening(assess(facts, AS_OF, load_thresholds())) is None


def test_r10_silent_when_another_rule_drafts_the_dxa(run: Run) -> None:
    """A woman of 70 on prednisone 10 mg for six months, no DXA: R8 (ACR 2022) and R10 both
    call for a scan; R8 drafts it with its own reason and R10 adds nothing, so the response
    carries one DXA draft and no second "screening due" card."""
    pid = "r10-with-r8"
    steroid = fb.medication_statement(pid, "8640", "prednisone", AS_OF - timedelta(days=180))
    cards = run(fb.prefetch(woman(pid, 70), steroid), pid)
    dxa_drafts = [
        s
        for card in cards.values()
        for s in card.get("suggestions", [])
        if s["actions"][0]["resource"]["resourceType"] == "ServiceRequest"
        and s["actions"][0]["resource"]["code"]["coding"][0]["code"] == "77080"
    ]
    assert "R8" in cards and "R10" not in cards
    assert len(dxa_drafts) == 1
    reason = dxa_drafts[0]["actions"][0]["resource"]["reasonCode"][0]["text"]
    assert reason.startswith("Glucocorticoid therapy")


def test_r10_names_an_unreadable_bmi_when_it_speaks_for_another_risk_factor(run: Run) -> None:
    pid = "r10-bmi-named"
    cards = run(
        fb.prefetch(
            woman(pid, 58), fb.smoking(pid, *SMOKER, LAST_MONTH), _bmi(pid, 19.0, "lb/in2")
        ),
        pid,
    )
    card = cards["R10"]
    assert "with current smoking: estimate fracture risk" in card["summary"]
    assert "low body weight" not in card["summary"]
    assert (
        f"A body mass index on {LAST_MONTH} (Observation/" in card["detail"]
        and "could not be read (unit 'lb/in2' not recognised); it was not used." in card["detail"]
    )
