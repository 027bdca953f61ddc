"""O3: an osteoporosis drug drafted while another covers the patient; after denosumab, the
bisphosphonate transition (clinical-spec §5)."""

from __future__ import annotations

from datetime import timedelta

from . import fhir_builders as fb
from .conftest import AS_OF
from .order_drafts import ALENDRONATE_SCD, deleted, draft_medication, order_cards, rules_of, session
from .people import days_ago, months_ago, woman

PID = "o3"
DRAFT = "MedicationRequest/draft-alendronate"


def _alendronate_draft() -> dict:
    code, name = ALENDRONATE_SCD
    return session(draft_medication(PID, "draft-alendronate", name, code=code, supply_days=90))


def _denosumab_injection(when, rid: str) -> dict:
    return fb.medication_request(
        PID, "993449", "denosumab 60 MG/ML Prefilled Syringe", when, status="completed", id=rid
    )


def _o3(engine, *resources) -> list[dict]:
    cards = order_cards(engine, fb.prefetch(woman(PID, 68), *resources), PID, _alendronate_draft())
    return [c for c in cards if rules_of([c]) == ["O3"]]


def test_o3_alendronate_while_on_raloxifene_is_a_duplicate_with_a_delete(engine) -> None:
    raloxifene = fb.medication_statement(
        PID, "72143", "raloxifene 60 MG Oral Tablet", months_ago(8)
    )
    (card,) = _o3(engine, raloxifene)
    assert card["indicator"] == "warning"
    assert "Duplicate therapy" in card["summary"] and "raloxifene" in card["summary"]
    assert deleted(card) == [DRAFT]


def test_o3_renewing_the_current_drug_is_not_a_duplicate(engine) -> None:
    alendronate = fb.medication_statement(PID, "46041", "alendronate 70 MG", months_ago(8))
    assert _o3(engine, alendronate) == []


def test_o3_no_current_therapy_no_card(engine) -> None:
    stopped = fb.medication_statement(
        PID, "72143", "raloxifene 60 MG", months_ago(30), end=months_ago(20), status="completed"
    )
    assert _o3(engine, stopped) == []


def test_o3_bisphosphonate_before_the_transition_window_overlaps_denosumab(engine) -> None:
    # The window opens 28 days before the next dose is due (183 days after the injection).
    (card,) = _o3(engine, _denosumab_injection(days_ago(183 - 28 - 1), "dmab"))
    assert card["indicator"] == "warning"
    assert "still covers" in card["summary"]
    assert deleted(card) == [DRAFT]


def test_o3_bisphosphonate_in_the_transition_window_is_the_recommended_switch(engine) -> None:
    (card,) = _o3(engine, _denosumab_injection(days_ago(183 - 28), "dmab"))
    assert card["indicator"] == "info"
    assert "recommended transition" in card["summary"] and "late" not in card["summary"]
    assert deleted(card) == []


def test_o3_transition_past_seven_months_is_late_and_asks_for_spine_imaging(engine) -> None:
    on_time = _o3(engine, _denosumab_injection(months_ago(7), "dmab"))[0]
    assert "late" not in on_time["summary"]
    (late,) = _o3(engine, _denosumab_injection(months_ago(7) - timedelta(days=1), "dmab"))
    assert late["indicator"] == "info" and late["summary"].endswith("late")
    assert "spine imaging" in late["detail"]


def test_o3_after_years_of_denosumab_zoledronic_acid_is_the_follow_on(engine) -> None:
    injections = [
        _denosumab_injection(AS_OF - timedelta(days=170 + 183 * n), f"dmab{n}") for n in range(6)
    ]
    (card,) = _o3(engine, *injections)
    assert "zoledronic acid is the follow-on of choice" in card["detail"]
    short = [_denosumab_injection(AS_OF - timedelta(days=170 + 183 * n), f"d{n}") for n in range(2)]
    (card,) = _o3(engine, *short)
    assert "follow-on of choice" not in card["detail"]
