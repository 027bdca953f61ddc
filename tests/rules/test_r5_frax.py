"""R5: osteopenia, untreated, no fragility fracture and no recent FRAX → calculate FRAX."""

from __future__ import annotations

from . import fhir_builders as fb
from .conftest import Run
from .people import LAST_MONTH, months_ago, woman

FRAX_URL = "https://frax.shef.ac.uk/FRAX/tool.aspx?country=9"


def test_r5_card_with_absolute_frax_link(run: Run) -> None:
    pid = "r5-basic"
    cards = run(fb.prefetch(woman(pid), fb.t_score(pid, "femur", -1.8, LAST_MONTH)), pid)
    card = cards["R5"]
    assert card["indicator"] == "info"
    assert "calculate 10-year fracture risk (FRAX)" in card["summary"]
    assert card["links"] == [
        {"label": "Calculate FRAX 10-year fracture risk (US)", "url": FRAX_URL, "type": "absolute"}
    ]
    assert "not on bone density alone" in card["detail"]


def test_r5_not_for_osteoporosis(run: Run) -> None:
    pid = "r5-osteoporosis"
    cards = run(fb.prefetch(woman(pid), fb.t_score(pid, "femur", -2.6, LAST_MONTH)), pid)
    assert "R5" not in cards and "R4" in cards


def test_r5_not_on_therapy(run: Run) -> None:
    pid = "r5-treated"
    cards = run(
        fb.prefetch(
            woman(pid),
            fb.t_score(pid, "femur", -1.8, LAST_MONTH),
            fb.medication_request(pid, "73056", "risedronate", months_ago(5)),
        ),
        pid,
    )
    assert "R5" not in cards


def test_r5_any_recent_frax_suppresses(run: Run) -> None:
    pid = "r5-frax"
    cards = run(
        fb.prefetch(
            woman(pid),
            fb.t_score(pid, "femur", -1.8, LAST_MONTH),
            fb.frax(pid, "major", 8.4, months_ago(20)),
        ),
        pid,
    )
    assert "R5" not in cards and "R4" not in cards
