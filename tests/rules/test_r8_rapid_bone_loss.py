"""R8 under 40 (ACR 2022): rapid bone loss, a spine or hip BMD down 10 % or more within a year,
on 7.5 mg/day or more of prednisone equivalent for 6 months, calls for treatment."""

from __future__ import annotations

from datetime import timedelta

import pytest

import fhir_mappings

from . import fhir_builders as fb
from .conftest import AS_OF, Run
from .people import LAST_MONTH, days_ago, woman
from .test_r8_medication_bone_loss import _steroid


def _chart(pid: str, *resources: dict, mg: float = 10, days: int = 200) -> dict:
    return fb.prefetch(
        woman(pid, 32),
        fb.vitamin_d(pid, 32, LAST_MONTH),
        _steroid(pid, mg, days_ago(days)),
        *resources,
    )


def _spine(pid: str, before: float, after: float, apart_days: int = 300) -> list[dict]:
    return [
        fb.bmd(pid, "lumbar spine", before, LAST_MONTH - timedelta(days=apart_days)),
        fb.bmd(pid, "lumbar spine", after, LAST_MONTH),
    ]


@pytest.mark.parametrize(("after", "rapid"), [(0.900, True), (0.901, False)])
def test_r8_rapid_bone_loss_at_10_percent(run: Run, after: float, rapid: bool) -> None:
    pid = f"r8-rapid-{after}".replace(".", "-")
    card = run(_chart(pid, *_spine(pid, 1.000, after)), pid)["R8"]
    assert ("Rapid bone loss" in card["detail"]) is rapid
    if rapid:
        assert "lumbar spine BMD 1.000 → 0.900 g/cm²" in card["detail"]
        assert "−10.0 %" in card["detail"]
        assert "DXA BMD, lumbar spine: **1.000 g/cm²**" in card["detail"]
        assert card["summary"].endswith(": rapid bone loss, treat")
        labels = [s["label"] for s in card["suggestions"]]
        assert any(label.startswith("Order alendronate 70 mg weekly") for label in labels)
    else:
        assert "treat" not in card["summary"]


@pytest.mark.parametrize(("apart", "rapid"), [(365, True), (366, False)])
def test_r8_rapid_bone_loss_within_a_year(run: Run, apart: int, rapid: bool) -> None:
    pid = f"r8-rapid-apart-{apart}"
    card = run(_chart(pid, *_spine(pid, 1.000, 0.850, apart)), pid)["R8"]
    assert ("Rapid bone loss" in card["detail"]) is rapid


@pytest.mark.parametrize(("mg", "days", "rapid"), [(7.5, 200, True), (7.4, 200, False)])
def test_r8_rapid_bone_loss_only_on_7_5_mg_for_6_months(
    run: Run, mg: float, days: int, rapid: bool
) -> None:
    pid = f"r8-rapid-dose-{mg}".replace(".", "-")
    card = run(_chart(pid, *_spine(pid, 1.000, 0.850), mg=mg, days=days), pid)["R8"]
    assert ("Rapid bone loss" in card["detail"]) is rapid


def test_r8_rapid_bone_loss_needs_6_months_of_the_dose(run: Run) -> None:
    pid = "r8-rapid-short"
    card = run(_chart(pid, *_spine(pid, 1.000, 0.850), days=150), pid)["R8"]
    assert "Rapid bone loss" not in card["detail"]


def test_r8_rapid_bone_loss_compares_the_same_site_and_side(run: Run) -> None:
    pid = "r8-rapid-sides"
    resources = [
        fb.bmd(pid, "total hip", 1.000, LAST_MONTH - timedelta(days=200), side="right"),
        fb.bmd(pid, "total hip", 0.850, LAST_MONTH, side="left"),
        fb.bmd(pid, "forearm", 0.800, LAST_MONTH - timedelta(days=200)),
        fb.bmd(pid, "forearm", 0.600, LAST_MONTH),
    ]
    card = run(_chart(pid, *resources), pid)["R8"]
    assert "Rapid bone loss" not in card["detail"]


def test_bmd_in_another_unit_is_not_compared() -> None:
    pid = "bmd-unit"
    facts = fhir_mappings.build_facts(
        _chart(pid, fb.bmd(pid, "lumbar spine", 900, LAST_MONTH, unit="mg/cm2")),
        patient_id=pid,
        as_of=AS_OF,
    )
    assert facts.bone_mineral_density == []
    assert any("not g/cm²; not used" in note.message for note in facts.notes)
    assert facts.dxa_events  # the scan was still done
