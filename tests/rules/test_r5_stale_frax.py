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


def test_r5_silent_when_r8_has_decided_on_treatment(run: Run) -> None:
    """Prednisone 10 mg/day for 9 months and T −1.4: ACR 2022 moderate risk, R8 offers the
    bisphosphonate; R5's "calculate FRAX to decide on treatment" would contradict it."""
    pid = "r5-after-r8"
    steroid = fb.medication_request(
        pid,
        "8640",
        "prednisone",
        add_months(AS_OF, -9),
        dosageInstruction=[{"text": "10 mg daily"}],
    )
    cards = run(
        fb.prefetch(
            woman(pid, 66),
            fb.t_score(pid, "femur", -1.4, add_months(AS_OF, -11)),
            fb.vitamin_d(pid, 32, LAST_MONTH),
            steroid,
        ),
        pid,
    )
    assert "R8" in cards and "R5" not in cards
    drafts = [s["label"] for s in cards["R8"].get("suggestions", [])]
    assert any("alendronate" in label.lower() for label in drafts)
