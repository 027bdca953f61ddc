"""R4 very high fracture risk (AACE 2020), each criterion at its boundary."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cds_service.guideline.dates import add_months

from . import fhir_builders as fb
from .conftest import AS_OF, Run
from .people import LAST_MONTH, woman


def _very_high(cards: dict) -> bool:
    return cards["R4"]["summary"].startswith("Very high fracture risk")


@pytest.mark.parametrize(("extra_days", "very_high"), [(0, True), (1, False)])
def test_r4_fracture_within_12_months_boundary(run: Run, extra_days: int, very_high: bool) -> None:
    pid = f"r4vh-fx-{extra_days}"
    onset = add_months(AS_OF, -12) - timedelta(days=extra_days)
    cards = run(
        fb.prefetch(
            woman(pid, 75), fb.fracture(pid, "S72.001A", onset), fb.vitamin_d(pid, 32, LAST_MONTH)
        ),
        pid,
    )
    assert _very_high(cards) is very_high


@pytest.mark.parametrize(("t", "very_high"), [(-3.0, False), (-3.01, True)])
def test_r4_t_score_below_minus_3_boundary(run: Run, t: float, very_high: bool) -> None:
    pid = f"r4vh-t-{t}".replace(".", "-")
    cards = run(
        fb.prefetch(
            woman(pid, 70),
            fb.t_score(pid, "femur", t, LAST_MONTH),
            fb.vitamin_d(pid, 32, LAST_MONTH),
        ),
        pid,
    )
    assert _very_high(cards) is very_high


@pytest.mark.parametrize(
    ("kind", "value", "very_high"),
    [("major", 30, False), ("major", 30.1, True), ("hip", 4.5, False), ("hip", 4.6, True)],
)
def test_r4_frax_boundaries(run: Run, kind: str, value: float, very_high: bool) -> None:
    pid = f"r4vh-{kind}-{value}".replace(".", "-")
    cards = run(
        fb.prefetch(
            woman(pid, 70),
            fb.t_score(pid, "femur", -2.0, LAST_MONTH),
            fb.frax(pid, kind, value, LAST_MONTH),
            fb.vitamin_d(pid, 32, LAST_MONTH),
        ),
        pid,
    )
    assert _very_high(cards) is very_high
    # the Thresholds line appears because a FRAX criterion triggered
    assert "Thresholds:" in cards["R4"]["detail"]


def test_r4_two_fragility_fractures_are_very_high(run: Run) -> None:
    pid = "r4vh-two"
    cards = run(
        fb.prefetch(
            woman(pid, 75),
            fb.fracture(pid, "S52.501A", add_months(AS_OF, -30)),
            fb.fracture(pid, "S32.010A", add_months(AS_OF, -20)),
            fb.t_score(pid, "femur", -1.8, LAST_MONTH),
        ),
        pid,
    )
    assert "2 fragility fractures" in cards["R4"]["summary"]


def test_r4_hip_fracture_last_month_first_card_referral_and_falls(run: Run, engine) -> None:
    pid = "r4vh-hip"
    prefetch = fb.prefetch(woman(pid, 78), fb.fracture(pid, "S72.001A", LAST_MONTH))
    cards = engine.evaluate(prefetch, patient_id=pid, as_of=AS_OF)
    first = cards[0]
    assert first["summary"].startswith("Very high fracture risk (hip fragility fracture")
    assert first["indicator"] == "warning"
    detail = first["detail"]
    assert "anabolic therapy first" in detail and "zoledronic acid" in detail
    assert "HORIZON-RFT" in detail and "Lyles KW, et al. N Engl J Med 2007" in detail
    assert "**Falls**" in detail and "Thresholds:" not in detail
    resources = [s["actions"][0]["resource"] for s in first["suggestions"]]
    assert resources[0]["resourceType"] == "ServiceRequest"
    assert resources[0]["code"]["coding"][0]["code"] == "306118006"
    assert resources[1]["medicationCodeableConcept"]["coding"][0]["code"] == "904431"
    assert first["selectionBehavior"] == "any"
    # the falls line is said once: R2 leaves it to R4
    r2 = next(c for c in cards if c["source"]["topic"]["code"] == "R2")
    assert "**Falls**" not in r2["detail"]
    assert "as tolerated, with physical therapy" in r2["detail"]
    run(prefetch, pid)  # every card passes the card checker


def test_r4_frax_older_than_the_fracture_does_not_decide(run: Run) -> None:
    pid = "r4vh-stale-frax"
    cards = run(
        fb.prefetch(
            woman(pid, 70),
            fb.t_score(pid, "femur", -1.8, add_months(AS_OF, -20)),
            fb.frax(pid, "major", 35, add_months(AS_OF, -20)),
            fb.fracture(pid, "S52.501A", add_months(AS_OF, -14)),
        ),
        pid,
    )
    assert "FRAX" not in cards["R4"]["summary"]
