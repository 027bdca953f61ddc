"""R2 with R3 and R8 in one response (clinical-spec §0.4): one card gives the vitamin D and the
calcium dose; R2 points to it instead of stating other numbers. Boundaries: 25(OH)D 19.9 (R3
repletes: R2 defers) and 20 (no R3: R2 gives its own dose)."""

from __future__ import annotations

import re

import pytest

from . import fhir_builders as fb
from .conftest import Run
from .people import LAST_MONTH, days_ago, woman
from .test_r8_medication_bone_loss import _steroid


def _osteopenia(pid: str, vit_d: float, *extra: dict, age: int = 62) -> dict:
    return fb.prefetch(
        woman(pid, age),
        fb.t_score(pid, "femur", -1.8, LAST_MONTH),
        fb.vitamin_d(pid, vit_d, LAST_MONTH),
        *extra,
    )


def _iu_doses(detail: str) -> set[str]:
    return set(re.findall(r"[\d,]+(?:–[\d,]+)? IU", detail.split("**Based on:**")[0]))


@pytest.mark.parametrize(("level", "deferred"), [(19.9, True), (20.0, False)])
def test_r2_vitamin_d_dose_defers_to_r3_repletion(run: Run, level: float, deferred: bool) -> None:
    pid = f"r2-defer-r3-{level}".replace(".", "-")
    cards = run(_osteopenia(pid, level), pid)
    r2 = cards["R2"]["detail"]
    assert ("R3" in cards) is deferred
    if deferred:
        assert "- **Vitamin D**: the dose is on the vitamin D card." in r2
        assert not _iu_doses(r2)  # no 600–800 IU beside the 50,000 IU repletion
        assert "50,000 IU" in cards["R3"]["detail"]
    else:
        assert "- **Vitamin D** 600–800 IU/day [" in r2


def test_r2_calcium_and_vitamin_d_defer_to_the_glucocorticoid_card(run: Run) -> None:
    pid = "r2-defer-r8"
    cards = run(_osteopenia(pid, 28, _steroid(pid, 10, days_ago(150))), pid)
    r2, r8 = cards["R2"]["detail"], cards["R8"]["detail"]
    assert "ensure calcium 800–1,000 mg and vitamin D 600–800 IU daily" in r8
    assert "the amount is on the glucocorticoid card" in r2
    assert "- **Vitamin D**: the dose is on the glucocorticoid card." in r2
    assert "1,200 mg" not in r2 and not _iu_doses(r2)


def test_r8_vitamin_d_defers_to_r3_and_keeps_the_calcium(run: Run) -> None:
    pid = "r8-defer-r3"
    cards = run(_osteopenia(pid, 15, _steroid(pid, 10, days_ago(150))), pid)
    r8 = cards["R8"]["detail"]
    assert "ensure calcium 800–1,000 mg daily; vitamin D as on the vitamin D card." in r8
    assert not _iu_doses(r8)
    assert "the dose is on the vitamin D card" in cards["R2"]["detail"]
    assert "the amount is on the glucocorticoid card" in cards["R2"]["detail"]
