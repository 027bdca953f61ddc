"""R6 (clinical v2): DXA interval by T-score band on the lowest T (half-open bands), the
23-month floor and its two exceptions, "due" and "overdue" as info (Gourlay 2012)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cds_service.engine import Engine
from cds_service.guideline.dates import add_months
from cds_service.guideline.thresholds import load_thresholds

from . import fhir_builders as fb
from .conftest import AS_OF, Run
from .people import days_ago, months_ago, woman


def _dxa_order(card: dict) -> dict:
    resource = card["suggestions"][0]["actions"][0]["resource"]
    assert resource["resourceType"] == "ServiceRequest"
    codes = {(c["system"], c["code"]) for c in resource["code"]["coding"]}
    assert codes == {("http://www.ama-assn.org/go/cpt", "77080"), ("http://loinc.org", "38268-9")}
    assert resource["reasonCode"][0]["coding"][0]["code"] in ("312894000", "64859006")
    return resource


def _untreated(pid: str, t: float, months: int, *extra: dict) -> dict:
    return fb.prefetch(
        woman(pid, 70),
        fb.t_score(pid, "femur", t, months_ago(months)),
        fb.frax(pid, "major", 10, months_ago(1)),
        fb.vitamin_d(pid, 30, months_ago(1)),
        *extra,
    )


@pytest.mark.parametrize(
    ("t", "months", "due"),
    [
        (-1.49, 59, False),  # mild band: 5 years
        (-1.49, 60, True),
        (-1.50, 23, False),  # moderate band: from 2 years (the boundary belongs here)
        (-1.50, 24, True),
        (-1.99, 24, True),
        (-2.00, 23, False),  # advanced: about every 2 years
        (-2.00, 24, True),
    ],
)
def test_r6_band_boundaries(run: Run, t: float, months: int, due: bool) -> None:
    pid = f"r6-band-{t}-{months}".replace(".", "-")
    cards = run(_untreated(pid, t, months), pid)
    assert ("R6" in cards) is due
    if due:
        card = cards["R6"]
        assert card["indicator"] == "info" and card["summary"].startswith("DXA due")
        _dxa_order(card)


def test_r6_mild_band_is_not_due_at_3_years_which_v1_called_overdue(run: Run) -> None:
    pid = "r6-mild-37"
    assert "R6" not in run(_untreated(pid, -1.49, 37), pid)


@pytest.mark.parametrize(("months", "state"), [(36, "due"), (37, "overdue")])
def test_r6_overdue_is_info(run: Run, months: int, state: str) -> None:
    pid = f"r6-overdue-{months}"
    card = run(_untreated(pid, -1.8, months), pid)["R6"]
    assert card["indicator"] == "info"
    assert card["summary"].startswith(f"DXA {state}")


@pytest.mark.parametrize(("delta", "due"), [(-1, False), (0, True), (1, True)])
def test_r6_23_month_floor(delta: int, due: bool) -> None:
    """With the advanced band configured to 1 year, the repeat still waits 23 months."""
    engine = Engine(load_thresholds())
    th = engine.thresholds
    import dataclasses

    engine.thresholds = dataclasses.replace(th, dxa_interval_high_risk_years=1)
    pid = f"r6-floor-{delta}"
    last = add_months(AS_OF, -23) - timedelta(days=delta)
    cards = engine.evaluate(
        fb.prefetch(
            woman(pid, 70),
            fb.t_score(pid, "femur", -2.2, last),
            fb.frax(pid, "major", 10, months_ago(1)),
            fb.vitamin_d(pid, 30, months_ago(1)),
        ),
        patient_id=pid,
        as_of=AS_OF,
    )
    assert any(c["source"]["topic"]["code"] == "R6" for c in cards) is due


def test_r6_glucocorticoids_1_year_without_the_floor(run: Run) -> None:
    pid = "r6-steroid"
    steroid = fb.medication_request(pid, "8640", "prednisone", months_ago(14))
    cards = run(_untreated(pid, -1.8, 13, steroid), pid)
    assert cards["R6"]["summary"].startswith("DXA due")
    assert "glucocorticoids" in cards["R6"]["detail"]


@pytest.mark.parametrize(("months", "due"), [(11, False), (13, True)])
def test_r6_first_scan_one_year_after_treatment_start(run: Run, months: int, due: bool) -> None:
    pid = f"r6-start-{months}"
    start = fb.medication_request(pid, "46041", "alendronate", months_ago(months))
    cards = run(_untreated(pid, -2.7, months, start), pid)
    assert ("R6" in cards) is due
    if due:
        assert "1 year after the treatment start" in cards["R6"]["summary"]


def test_r6_baseline_dxa_after_a_fracture_is_info_never_overdue(run: Run) -> None:
    pid = "r6-baseline"
    cards = run(
        fb.prefetch(woman(pid, 75), fb.fracture(pid, "S72.001A", days_ago(30))),
        pid,
    )
    card = cards["R6"]
    assert card["indicator"] == "info"
    assert "baseline DXA for monitoring" in card["summary"] and "overdue" not in card["summary"]
    _dxa_order(card)
