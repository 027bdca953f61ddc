"""R2: calcium, vitamin D, exercise, smoking and alcohol for every patient with low bone mass."""

from __future__ import annotations

from . import fhir_builders as fb
from .conftest import Run
from .people import LAST_MONTH, man, months_ago, woman


def _osteopenia(pid: str, patient: dict, *extra: dict) -> dict:
    return fb.prefetch(
        patient,
        fb.t_score(pid, "femur", -1.8, LAST_MONTH),
        fb.vitamin_d(pid, 32, LAST_MONTH),
        *extra,
    )


def test_r2_offers_vitamin_d_and_calcium_any(run: Run) -> None:
    pid = "r2-basic"
    card = run(_osteopenia(pid, woman(pid, 62)), pid)["R2"]
    assert card["indicator"] == "info"
    assert card["summary"] == (
        "Osteopenia (T −1.8, femoral neck, 2026-10-25): start calcium, vitamin D and "
        "weight-bearing exercise"
    )
    assert card["selectionBehavior"] == "any"
    codes = [
        s["actions"][0]["resource"]["medicationCodeableConcept"]["coding"][0]["code"]
        for s in card["suggestions"]
    ]
    assert codes == ["2418", "1897"]  # cholecalciferol, calcium carbonate
    detail = card["detail"]
    assert "1,200 mg/day" in detail  # women >= 51
    assert "600–800 IU/day" in detail and "≥ 20 ng/mL" in detail
    assert "three times a week" in detail
    assert "**Always:**" in detail and "fracture prevention" in detail
    assert "Observation/" in detail and "2026-10-25" in detail
    assert "Next DXA due from" in detail


def test_r2_continue_when_supplements_active_no_suggestions(run: Run) -> None:
    pid = "r2-supplements"
    card = run(
        _osteopenia(
            pid,
            woman(pid, 75),
            fb.medication_request(pid, "2418", "cholecalciferol", months_ago(10)),
            fb.medication_statement(pid, "1897", "calcium carbonate", months_ago(10)),
        ),
        pid,
    )["R2"]
    assert "continue calcium and vitamin D" in card["summary"]
    assert "suggestions" not in card and "selectionBehavior" not in card
    assert "already taking" in card["detail"]


def test_r2_men_50_to_70_need_1000_mg_calcium(run: Run) -> None:
    pid = "r2-man-60"
    card = run(_osteopenia(pid, man(pid, 60)), pid)["R2"]
    assert "1,000 mg/day" in card["detail"]
    pid = "r2-man-72"
    card = run(_osteopenia(pid, man(pid, 72)), pid)["R2"]
    assert "1,200 mg/day" in card["detail"] and "800–800" not in card["detail"]


def test_r2_names_current_smoking_and_excess_alcohol(run: Run) -> None:
    pid = "r2-lifestyle"
    card = run(
        _osteopenia(
            pid,
            woman(pid, 62),
            fb.smoking(pid, "449868002", "Current every day smoker", months_ago(2)),
            fb.drinks_per_day(pid, 3, months_ago(2)),
        ),
        pid,
    )["R2"]
    assert card["summary"].endswith("; stop smoking; limit alcohol")
    assert "currently smokes" in card["detail"] and "3 drinks/day" in card["detail"]


def test_r2_former_smoker_and_two_drinks_not_flagged(run: Run) -> None:
    pid = "r2-lifestyle-ok"
    card = run(
        _osteopenia(
            pid,
            woman(pid, 62),
            fb.smoking(pid, "8517006", "Ex-smoker", months_ago(2)),
            fb.drinks_per_day(pid, 2, months_ago(2)),
        ),
        pid,
    )["R2"]
    assert "smoking" not in card["summary"] and "alcohol" not in card["summary"]


def test_r2_not_for_normal_bone_density(run: Run) -> None:
    pid = "r2-normal"
    cards = run(
        fb.prefetch(woman(pid), fb.t_score(pid, "femur", -0.2, LAST_MONTH)),
        pid,
    )
    assert cards == {}
