"""R1's second card and R4's work-up line (clinical-spec §0.3): a Z-score at or below −2.0, a man
with osteoporosis or a fragility fracture with normal density calls for a secondary-cause
work-up, on R4 when R4 speaks, otherwise on an R1 info card."""

from __future__ import annotations

import pytest

from . import fhir_builders as fb
from .conftest import Run
from .people import LAST_MONTH, man, woman


@pytest.mark.parametrize(("z", "card"), [(-2.0, True), (-1.9, False)])
def test_r1_low_z_score_from_50_gets_the_work_up_card(run: Run, z: float, card: bool) -> None:
    pid = f"r1-z{z}".replace(".", "-")
    cards = run(
        fb.prefetch(
            woman(pid, 60),
            fb.t_score(pid, "femur", -1.8, LAST_MONTH),
            fb.z_score(pid, "femur", z, LAST_MONTH),
            fb.vitamin_d(pid, 32, LAST_MONTH),
        ),
        pid,
    )
    assert ("R1" in cards) is card
    assert "R4" not in cards
    if card:
        assert cards["R1"]["indicator"] == "info"
        assert "serum protein electrophoresis" in cards["R1"]["detail"]


def test_r4_carries_the_work_up_for_a_man_with_osteoporosis(run: Run) -> None:
    pid = "r4-man-work-up"
    cards = run(
        fb.prefetch(
            man(pid, 70),
            fb.t_score(pid, "lumbar spine", -2.7, LAST_MONTH),
            fb.vitamin_d(pid, 32, LAST_MONTH),
        ),
        pid,
    )
    assert "R1" not in cards
    assert "osteoporosis in a man" in cards["R4"]["detail"]
    assert "testosterone in men" in cards["R4"]["detail"]
