"""O6: a glucocorticoid drafted for 3 months or more at 2.5 mg/day or more (ACR 2022)."""

from __future__ import annotations

from . import fhir_builders as fb
from .order_drafts import (
    PREDNISONE_20_SCD,
    created,
    draft_medication,
    order_cards,
    rules_of,
    session,
)
from .people import months_ago, woman

PID = "o6"


def _prednisone(supply_days: int | None, pills: float = 1, name: str | None = None) -> dict:
    code, scd = PREDNISONE_20_SCD
    return session(
        draft_medication(
            PID, "draft-prednisone", name or scd, code=code, pills=pills, supply_days=supply_days
        )
    )


def _o6(engine, drafts, *resources, age: int = 62) -> list[dict]:
    data = fb.prefetch(woman(PID, age), *resources)
    return [c for c in order_cards(engine, data, PID, drafts) if rules_of([c]) == ["O6"]]


def test_o6_prednisone_20_for_90_days_without_dxa_offers_calcium_vitamin_d_and_dxa(engine) -> None:
    (card,) = _o6(engine, _prednisone(90))
    assert card["indicator"] == "info"
    assert "prednisone 20 mg/day" in card["summary"].lower()
    assert "ACR 2022" in card["summary"]
    texts = " | ".join(created(card))
    assert "calcium" in texts and "cholecalciferol" in texts and "DXA" in texts
    assert "stop" not in card["detail"].lower()


def test_o6_boundary_of_three_months(engine) -> None:
    assert len(_o6(engine, _prednisone(90))) == 1
    assert _o6(engine, _prednisone(89)) == []


def test_o6_short_draft_continuing_a_running_course_counts(engine) -> None:
    running = fb.medication_request(PID, "8640", "prednisone 10 MG Oral Tablet", months_ago(3))
    running["dosageInstruction"] = [{"text": "10 mg daily"}]
    (card,) = _o6(engine, _prednisone(30), running)
    assert "current course" in card["detail"]


def test_o6_dose_boundary(engine) -> None:
    # 2.5 mg/day counts; below it does not (prednisone 5 MG tablets, half or less a day).
    five = "Prednisone 5 MG Oral Tablet"
    assert len(_o6(engine, _prednisone(90, pills=0.5, name=five))) == 1
    assert _o6(engine, _prednisone(90, pills=0.4, name=five)) == []


def test_o6_a_recent_dxa_means_no_dxa_draft(engine) -> None:
    (card,) = _o6(engine, _prednisone(90), fb.t_score(PID, "hip", -1.2, months_ago(11)))
    assert not any("DXA" in text for text in created(card))


def test_o6_replacement_dose_in_adrenal_insufficiency_is_silent(engine) -> None:
    addison = fb.condition(PID, fb.ICD10, "E27.1", "Primary adrenocortical insufficiency", None)
    five = "Prednisone 5 MG Oral Tablet"
    assert _o6(engine, _prednisone(90, pills=1, name=five), addison) == []


def test_o6_not_under_18(engine) -> None:
    assert _o6(engine, _prednisone(90), age=17) == []
