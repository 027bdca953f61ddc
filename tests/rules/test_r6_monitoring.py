"""R6: DXA repeat interval from the last DXA, by treatment and risk."""

from __future__ import annotations

import pytest

from . import fhir_builders as fb
from .conftest import Run
from .people import months_ago, woman


def _dxa_order(card: dict) -> dict:
    resource = card["suggestions"][0]["actions"][0]["resource"]
    assert resource["resourceType"] == "ServiceRequest"
    codes = {(c["system"], c["code"]) for c in resource["code"]["coding"]}
    assert codes == {("http://www.ama-assn.org/go/cpt", "77080"), ("http://loinc.org", "38268-9")}
    return resource


@pytest.mark.parametrize(
    ("months", "expected"),
    [(23, None), (24, "info"), (36, "info"), (37, "warning")],
)
def test_r6_untreated_low_risk_every_2_to_3_years(
    run: Run, months: int, expected: str | None
) -> None:
    pid = f"r6-low-{months}"
    cards = run(
        fb.prefetch(
            woman(pid),
            fb.t_score(pid, "femur", -1.5, months_ago(months)),
            fb.frax(pid, "major", 10, months_ago(1)),
            fb.vitamin_d(pid, 30, months_ago(1)),
        ),
        pid,
    )
    if expected is None:
        assert "R6" not in cards
        assert "Next DXA due from" in cards["R2"]["detail"]
        return
    card = cards["R6"]
    assert card["indicator"] == expected
    assert card["summary"].startswith("DXA overdue" if expected == "warning" else "DXA due")
    _dxa_order(card)


@pytest.mark.parametrize(("months", "expected"), [(11, None), (13, "info"), (25, "warning")])
def test_r6_on_treatment_every_1_to_2_years(run: Run, months: int, expected: str | None) -> None:
    pid = f"r6-treated-{months}"
    cards = run(
        fb.prefetch(
            woman(pid),
            fb.t_score(pid, "femur", -1.5, months_ago(months)),
            fb.vitamin_d(pid, 30, months_ago(1)),
            fb.medication_request(pid, "46041", "alendronate", months_ago(months)),
        ),
        pid,
    )
    assert (cards["R6"]["indicator"] if "R6" in cards else None) == expected


def test_r6_t_at_or_below_minus_2_is_higher_risk(run: Run) -> None:
    pid = "r6-advanced"
    cards = run(
        fb.prefetch(
            woman(pid),
            fb.t_score(pid, "femur", -2.0, months_ago(25)),
            fb.frax(pid, "major", 10, months_ago(1)),
            fb.vitamin_d(pid, 30, months_ago(1)),
        ),
        pid,
    )
    assert cards["R6"]["indicator"] == "warning"
    assert "every 1–2 years" in cards["R6"]["summary"]


def test_r6_dxa_procedure_counts_as_last_dxa(run: Run) -> None:
    pid = "r6-procedure"
    cards = run(
        fb.prefetch(
            woman(pid),
            fb.t_score(pid, "femur", -1.5, months_ago(40)),
            fb.procedure_dxa(pid, months_ago(6)),
            fb.frax(pid, "major", 10, months_ago(1)),
            fb.vitamin_d(pid, 30, months_ago(1)),
        ),
        pid,
    )
    assert "R6" not in cards


def test_r6_no_dxa_on_record_for_osteopenia_by_code(run: Run) -> None:
    pid = "r6-no-dxa"
    cards = run(
        fb.prefetch(
            woman(pid),
            fb.condition(
                pid, fb.ICD10, "M85.80", "Other specified disorders of bone density", months_ago(3)
            ),
        ),
        pid,
    )
    card = cards["R6"]
    assert "no DXA on record" in card["summary"] and card["indicator"] == "info"
    _dxa_order(card)
