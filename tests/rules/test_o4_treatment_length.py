"""O4: a bisphosphonate drafted after 5 years of oral (3 of intravenous) therapy."""

from __future__ import annotations

from datetime import timedelta

from . import fhir_builders as fb
from .conftest import AS_OF
from .order_drafts import ALENDRONATE_SCD, deleted, draft_medication, order_cards, rules_of, session
from .people import woman

PID = "o4"


def _cards(engine, *resources) -> list[dict]:
    code, name = ALENDRONATE_SCD
    drafts = session(draft_medication(PID, "draft-alendronate", name, code=code))
    cards = order_cards(engine, fb.prefetch(woman(PID, 70), *resources), PID, drafts)
    return [c for c in cards if rules_of([c]) == ["O4"]]


def _alendronate_for(days: int) -> dict:
    # Inclusive of both ends: a start ``days - 1`` days ago gives ``days`` days of therapy.
    return fb.medication_statement(PID, "46041", "alendronate 70 MG", AS_OF - timedelta(days - 1))


def test_o4_five_years_of_alendronate_asks_to_reassess(engine) -> None:
    (card,) = _cards(engine, _alendronate_for(1827))  # 1827 / 365.25 = 5.002 years
    assert card["indicator"] == "info"
    assert "5.0 years of oral bisphosphonate" in card["summary"]
    assert "drug holiday" in card["summary"]
    assert "atypical femoral fracture" not in card["detail"]
    assert deleted(card) == []


def test_o4_just_under_five_years_no_card(engine) -> None:
    assert _cards(engine, _alendronate_for(1826)) == []  # 4.999 years


def test_o4_ten_years_names_atypical_femoral_fracture(engine) -> None:
    (card,) = _cards(engine, _alendronate_for(3653))
    assert "atypical femoral fracture" in card["detail"]


def test_o4_three_years_of_zoledronic_acid_counts(engine) -> None:
    infusions = [
        fb.medication_request(
            PID,
            "77655",
            "zoledronic acid 5 MG/100ML",
            AS_OF - timedelta(days=365 * (n + 1)),  # the fourth is due now
            status="completed",
            id=f"zol{n}",
        )
        for n in range(3)
    ]
    (card,) = _cards(engine, *infusions)
    assert "zoledronic acid" in card["summary"]
