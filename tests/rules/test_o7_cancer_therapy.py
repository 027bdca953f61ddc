"""O7: an aromatase inhibitor or androgen deprivation drafted with no DXA within 2 years."""

from __future__ import annotations

from datetime import timedelta

from cds_service.guideline.dates import add_years

from . import fhir_builders as fb
from .conftest import AS_OF
from .order_drafts import created, draft_dxa, draft_medication, order_cards, rules_of, session
from .people import man, months_ago, woman

PID = "o7"


def _letrozole() -> dict:
    return draft_medication(PID, "draft-letrozole", "Letrozole 2.5 MG Oral Tablet")


def _o7(engine, patient, *resources, drafts=None) -> list[dict]:
    data = fb.prefetch(patient, *resources)
    cards = order_cards(engine, data, PID, drafts or session(_letrozole()))
    return [c for c in cards if rules_of([c]) == ["O7"]]


def test_o7_aromatase_inhibitor_without_dxa_offers_dxa_calcium_and_vitamin_d(engine) -> None:
    (card,) = _o7(engine, woman(PID, 58))
    assert card["indicator"] == "info"
    assert "no DXA on record" in card["summary"]
    texts = " | ".join(created(card))
    assert "DXA" in texts and "calcium" in texts and "cholecalciferol" in texts
    assert "T-score is below −2.0" in card["detail"] and "Hadji P" in card["detail"]


def test_o7_boundary_of_two_years(engine) -> None:
    since = add_years(AS_OF, -2)
    assert _o7(engine, woman(PID, 58), fb.t_score(PID, "hip", -1.1, since)) == []
    older = fb.t_score(PID, "hip", -1.1, since - timedelta(days=1))
    (card,) = _o7(engine, woman(PID, 58), older)
    assert "last DXA" in card["summary"]


def test_o7_androgen_deprivation_in_a_man(engine) -> None:
    drafts = session(draft_medication(PID, "draft-leuprolide", "leuprolide 22.5 MG injection"))
    (card,) = _o7(engine, man(PID, 71), drafts=drafts)
    assert "Androgen deprivation therapy" in card["summary"]
    assert "Shapiro" in card["detail"] or "ASCO" in card["detail"]


def test_o7_offers_only_what_is_missing(engine) -> None:
    calcium = fb.medication_statement(PID, "1897", "calcium carbonate 500 MG", months_ago(6))
    drafts = session(_letrozole(), draft_dxa(PID))
    (card,) = _o7(engine, woman(PID, 58), calcium, drafts=drafts)
    texts = " | ".join(created(card))
    assert "cholecalciferol" in texts
    assert "DXA" not in texts and "calcium carbonate" not in texts


def test_o7_not_under_18(engine) -> None:
    assert _o7(engine, woman(PID, 17)) == []
