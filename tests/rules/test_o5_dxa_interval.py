"""O5: a DXA drafted earlier than the monitoring interval (R6) allows."""

from __future__ import annotations

from datetime import timedelta

from cds_service.guideline.dates import add_years

from . import fhir_builders as fb
from .conftest import AS_OF
from .order_drafts import deleted, draft_dxa, order_cards, rules_of, session
from .people import months_ago, woman

PID = "o5"


def _cards(engine, last_dxa, t: float = -1.8, *resources) -> list[dict]:
    data = fb.prefetch(woman(PID, 66), fb.t_score(PID, "hip", t, last_dxa), *resources)
    cards = order_cards(engine, data, PID, session(draft_dxa(PID)))
    return [c for c in cards if rules_of([c]) == ["O5"]]


def test_o5_dxa_a_year_after_the_last_is_early_with_a_delete(engine) -> None:
    (card,) = _cards(engine, AS_OF - timedelta(days=365))
    assert card["indicator"] == "info"
    assert card["summary"].startswith("DXA drafted early")
    assert deleted(card) == ["ServiceRequest/draft-dxa"]


def test_o5_boundary_of_the_moderate_band(engine) -> None:
    due_from_today = add_years(AS_OF, -2)  # −2.00 < T ≤ −1.50, untreated: due from 2 years
    assert _cards(engine, due_from_today) == []
    (card,) = _cards(engine, due_from_today + timedelta(days=1))
    assert "moderate" in card["detail"] and "23 months" in card["detail"]


def test_o5_mild_band_waits_five_years(engine) -> None:
    assert len(_cards(engine, add_years(AS_OF, -5) + timedelta(days=1), -1.2)) == 1
    assert _cards(engine, add_years(AS_OF, -5), -1.2) == []


def test_o5_on_glucocorticoids_a_yearly_dxa_is_not_early(engine) -> None:
    prednisone = fb.medication_statement(PID, "8640", "prednisone 10 MG", months_ago(8))
    assert _cards(engine, add_years(AS_OF, -1), -1.8, prednisone) == []
    (card,) = _cards(engine, add_years(AS_OF, -1) + timedelta(days=1), -1.8, prednisone)
    assert "glucocorticoids" in card["detail"] and "23 months" not in card["detail"]


def test_o5_no_dxa_on_record_no_card(engine) -> None:
    data = fb.prefetch(woman(PID, 66))
    assert order_cards(engine, data, PID, session(draft_dxa(PID))) == []
