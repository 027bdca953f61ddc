"""R5 (clinical v2): a stale FRAX is shown with its values and date; silent without a DXA."""

from __future__ import annotations

from cds_service.guideline.dates import add_months

from . import fhir_builders as fb
from .conftest import AS_OF, Run
from .people import LAST_MONTH, woman


def test_r5_shows_a_stale_frax_with_values_date_and_side_of_the_thresholds(run: Run) -> None:
    pid = "r5-stale"
    old = add_months(AS_OF, -30)
    cards = run(
        fb.prefetch(
            woman(pid, 66),
            fb.t_score(pid, "femur", -1.8, LAST_MONTH),
            fb.frax(pid, "major", 22, old),
            fb.frax(pid, "hip", 1.2, old),
            fb.vitamin_d(pid, 32, LAST_MONTH),
        ),
        pid,
    )
    card = cards["R5"]
    assert f"FRAX of {old.isoformat()} is out of date" in card["summary"]
    detail = card["detail"]
    assert "major osteoporotic 22 %, at or above the 20 % threshold then" in detail
    assert "hip 1.2 %, below the 3 % threshold then" in detail
    assert "lower risk" not in detail.lower()
    assert "R4" not in cards  # a stale FRAX decides nothing


def test_r5_silent_without_a_dxa(run: Run) -> None:
    pid = "r5-no-dxa"
    cards = run(
        fb.prefetch(
            woman(pid, 66),
            fb.condition(pid, fb.SNOMED, "312894000", "Osteopenia", LAST_MONTH),
        ),
        pid,
    )
    assert "R5" not in cards and "R6" in cards
