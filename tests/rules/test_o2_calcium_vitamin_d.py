"""O2: an antiresorptive drafted while calcium is low (critical) or 25(OH)D < 12 (warning)."""

from __future__ import annotations

from . import fhir_builders as fb
from .order_drafts import (
    ALENDRONATE_SCD,
    created,
    deleted,
    draft_medication,
    order_cards,
    rules_of,
    session,
)
from .people import LAST_MONTH, woman
from .test_gates import _obs, egfr

PID = "o2"


def _o2(engine, *resources, drafts=None) -> list[dict]:
    code, name = ALENDRONATE_SCD
    drafts = drafts or session(draft_medication(PID, "draft-alendronate", name, code=code))
    data = fb.prefetch(woman(PID, 70), egfr(PID, 70), *resources)
    return [c for c in order_cards(engine, data, PID, drafts) if rules_of([c]) == ["O2"]]


def _calcium(value: float) -> tuple[dict, dict]:
    return (
        _obs(PID, "17861-6", value, "mg/dL", LAST_MONTH),
        _obs(PID, "1751-7", 4.0, "g/dL", LAST_MONTH),
    )


def test_o2_low_corrected_calcium_is_critical(engine) -> None:
    (card,) = _o2(engine, fb.vitamin_d(PID, 30, LAST_MONTH), *_calcium(8.4))
    assert card["indicator"] == "critical"
    assert "calcium" in card["summary"] and "correct it first" in card["summary"]
    assert deleted(card) == ["MedicationRequest/draft-alendronate"]


def test_o2_calcium_at_the_limit_passes(engine) -> None:
    assert _o2(engine, fb.vitamin_d(PID, 30, LAST_MONTH), *_calcium(8.5)) == []


def test_o2_vitamin_d_below_12_is_a_warning_with_the_repletion_draft(engine) -> None:
    (card,) = _o2(engine, fb.vitamin_d(PID, 11.9, LAST_MONTH))
    assert card["indicator"] == "warning"
    assert any("50,000" in text or "50000" in text for text in created(card)), created(card)
    assert _o2(engine, fb.vitamin_d(PID, 12, LAST_MONTH)) == []


def test_o2_a_vitamin_d_draft_in_the_session_is_not_offered_again(engine) -> None:
    code, name = ALENDRONATE_SCD
    drafts = session(
        draft_medication(PID, "draft-alendronate", name, code=code),
        draft_medication(PID, "draft-d3", "cholecalciferol 50000 UNT Oral Capsule"),
    )
    (card,) = _o2(engine, fb.vitamin_d(PID, 8, LAST_MONTH), drafts=drafts)
    assert created(card) == []
