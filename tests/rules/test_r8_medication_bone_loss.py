"""R8: glucocorticoids for 3 months or more, and other bone-loss medicines."""

from __future__ import annotations

import pytest

from . import fhir_builders as fb
from .conftest import Run
from .people import LAST_MONTH, months_ago, woman


def _base(pid: str, t: float, *meds: dict) -> dict:
    return fb.prefetch(
        woman(pid, 66),
        fb.t_score(pid, "femur", t, LAST_MONTH),
        fb.vitamin_d(pid, 32, LAST_MONTH),
        *meds,
    )


@pytest.mark.parametrize(("months", "expected"), [(2, False), (4, True)])
def test_r8_glucocorticoids_2_vs_4_months(run: Run, months: int, expected: bool) -> None:
    pid = f"r8-prednisone-{months}"
    cards = run(
        _base(pid, -1.8, fb.medication_request(pid, "8640", "prednisone", months_ago(months))),
        pid,
    )
    assert ("R8" in cards) is expected
    if expected:
        card = cards["R8"]
        assert card["indicator"] == "info"
        assert "prednisone" in card["summary"]
        assert "stopped or reduced" in card["detail"]


def test_r8_aromatase_inhibitor_any_duration(run: Run) -> None:
    pid = "r8-anastrozole"
    cards = run(
        _base(pid, -1.8, fb.medication_request(pid, "84857", "anastrozole", months_ago(1))), pid
    )
    assert "anastrozole" in cards["R8"]["summary"]


def test_r8_stopped_medicine_does_not_count(run: Run) -> None:
    pid = "r8-stopped"
    cards = run(
        _base(
            pid,
            -1.8,
            fb.medication_request(
                pid, "8640", "prednisone", months_ago(12), months_ago(6), status="completed"
            ),
        ),
        pid,
    )
    assert "R8" not in cards


def test_r8_only_with_low_bone_mass(run: Run) -> None:
    pid = "r8-normal"
    cards = run(
        _base(pid, -0.5, fb.medication_request(pid, "8640", "prednisone", months_ago(6))), pid
    )
    assert cards == {}
