"""R2 (clinical v2): calcium, vitamin D, exercise, falls, smoking and alcohol, only when one
of them is actionable; vitamin D 800 IU only below the 30 ng/mL supplement threshold or when
unknown; calcium food first."""

from __future__ import annotations

from . import fhir_builders as fb
from .conftest import Run
from .people import LAST_MONTH, days_ago, man, months_ago, woman


def _osteopenia(pid: str, patient: dict, *extra: dict, vit_d: float | None = 32) -> dict:
    level = () if vit_d is None else (fb.vitamin_d(pid, vit_d, LAST_MONTH),)
    return fb.prefetch(patient, fb.t_score(pid, "femur", -1.8, LAST_MONTH), *level, *extra)


def _supplements(pid: str) -> tuple[dict, dict]:
    return (
        fb.medication_request(pid, "2418", "cholecalciferol", months_ago(10)),
        fb.medication_statement(pid, "1897", "calcium carbonate", months_ago(10)),
    )


def _drafts(card: dict) -> list[str]:
    """The ingredient of each drug draft (its last coding, after the clinical drug)."""
    resources = [s["actions"][0]["resource"] for s in card.get("suggestions", [])]
    return [
        r["medicationCodeableConcept"]["coding"][-1]["code"]
        for r in resources
        if r["resourceType"] == "MedicationRequest"
    ]


def test_r2_replete_without_supplements_offers_calcium_food_first_not_vitamin_d(run: Run) -> None:
    pid = "r2-basic"
    card = run(_osteopenia(pid, woman(pid, 62)), pid)["R2"]
    assert card["indicator"] == "info"
    assert card["summary"] == (
        "Osteopenia (T −1.8, femoral neck, 2026-10-25): calcium from food first, exercise and "
        "falls prevention"
    )
    assert _drafts(card) == ["1897"]  # 32 ng/mL is above the supplement threshold: no D3
    detail = card["detail"]
    assert "1,200 mg/day" in detail and "food first" in detail
    assert "at or above the 30 ng/mL supplement threshold" in detail
    assert "**Falls**" in detail and "balance" in detail
    assert "Observation/" in detail and "2026-10-25" in detail
    assert "Next DXA due from" in detail
    calcium = card["suggestions"][0]["actions"][0]["resource"]
    assert "400 mg elemental calcium" in calcium["medicationCodeableConcept"]["text"]
    assert calcium["medicationCodeableConcept"]["coding"][0]["display"] == (
        "calcium carbonate 1000 MG Chewable Tablet"
    )
    dose = calcium["dosageInstruction"][0]
    assert dose["doseAndRate"][0]["doseQuantity"]["value"] == 1  # one tablet, not "400 mg"
    assert "only if dietary calcium is below" in dose["text"]


def test_r2_vitamin_d_draft_below_the_supplement_threshold_or_unknown(run: Run) -> None:
    for pid, level, offered in (
        ("r2-d-29", 29.9, True),
        ("r2-d-30", 30, False),
        ("r2-d-unknown", None, True),
    ):
        cards = run(_osteopenia(pid, woman(pid, 62), vit_d=level), pid)
        offers_d3 = "2418" in [c for card in cards.values() for c in _drafts(card)]
        assert offers_d3 is offered, pid


def test_r2_silent_when_nothing_is_actionable(run: Run) -> None:
    pid = "r2-nothing"
    cards = run(_osteopenia(pid, woman(pid, 75), *_supplements(pid)), pid)
    assert "R2" not in cards


def test_r2_speaks_for_smoking_and_alcohol_even_with_supplements(run: Run) -> None:
    pid = "r2-lifestyle"
    card = run(
        _osteopenia(
            pid,
            woman(pid, 62),
            *_supplements(pid),
            fb.smoking(pid, "449868002", "Current every day smoker", months_ago(2)),
            fb.drinks_per_day(pid, 3, months_ago(2)),
        ),
        pid,
    )["R2"]
    assert "stop smoking, limit alcohol" in card["summary"]
    assert "currently smokes" in card["detail"] and "3 drinks/day" in card["detail"]
    assert "already taking" in card["detail"] and "suggestions" not in card


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


def test_r2_men_50_to_70_need_1000_mg_calcium(run: Run) -> None:
    pid = "r2-man-60"
    card = run(_osteopenia(pid, man(pid, 60)), pid)["R2"]
    assert "1,000 mg/day" in card["detail"]
    pid = "r2-man-72"
    card = run(_osteopenia(pid, man(pid, 72)), pid)["R2"]
    assert "1,200 mg/day" in card["detail"] and "800–800" not in card["detail"]


def test_r2_exercise_after_a_fracture_within_3_months_as_tolerated(run: Run) -> None:
    for pid, ago, tolerated in (("r2-fx-89", 89, True), ("r2-fx-100", 100, False)):
        cards = run(
            _osteopenia(pid, woman(pid, 70), fb.fracture(pid, "S52.501A", days_ago(ago))),
            pid,
        )
        detail = cards["R2"]["detail"]
        assert ("as tolerated, with physical therapy" in detail) is tolerated, pid


def test_r2_not_for_normal_bone_density(run: Run) -> None:
    pid = "r2-normal"
    cards = run(fb.prefetch(woman(pid), fb.t_score(pid, "femur", -0.2, LAST_MONTH)), pid)
    assert "R2" not in cards
