"""R9: osteopenia of prematurity; adult rules silent for it and for everyone under 18."""

from __future__ import annotations

from datetime import timedelta

from . import fhir_builders as fb
from .conftest import AS_OF, Run
from .people import LAST_MONTH, months_ago, woman


def _infant(pid: str, age_days: int = 90) -> dict:
    return fb.patient(pid, AS_OF - timedelta(days=age_days), "male")


def test_r9_prematurity_code_in_an_infant(run: Run) -> None:
    pid = "r9-infant"
    cards = run(
        fb.prefetch(
            _infant(pid),
            fb.condition(pid, fb.SNOMED, "276703007", "Osteopenia of prematurity", months_ago(2)),
            fb.z_score(pid, "lumbar spine", -2.5, LAST_MONTH),
        ),
        pid,
    )
    assert set(cards) == {"R9"}
    card = cards["R9"]
    assert card["indicator"] == "info"
    assert "normalises after the first year" in card["summary"]
    assert "phosphorus" in card["detail"]


def test_r9_osteopenia_in_an_infant_under_1_year(run: Run) -> None:
    pid = "r9-infant-osteopenia"
    cards = run(
        fb.prefetch(
            _infant(pid, 200),
            fb.condition(pid, fb.SNOMED, "312894000", "Osteopenia", months_ago(1)),
        ),
        pid,
    )
    assert set(cards) == {"R9"}


def test_r9_child_with_osteopenia_after_infancy_gets_no_card(run: Run) -> None:
    pid = "r9-child"
    cards = run(
        fb.prefetch(
            fb.patient(pid, AS_OF - timedelta(days=5 * 365), "female"),
            fb.condition(pid, fb.SNOMED, "312894000", "Osteopenia", months_ago(1)),
            fb.condition(pid, fb.SNOMED, "65966004", "Fracture of forearm", months_ago(2)),
        ),
        pid,
    )
    assert cards == {}


def test_r9_neonatal_code_on_an_adult_record_does_not_silence_adult_rules(run: Run) -> None:
    pid = "r9-adult"
    cards = run(
        fb.prefetch(
            woman(pid, 62),
            fb.condition(pid, fb.SNOMED, "276703007", "Osteopenia of prematurity", None),
            fb.t_score(pid, "femur", -1.8, LAST_MONTH),
            fb.vitamin_d(pid, 32, LAST_MONTH),
        ),
        pid,
    )
    assert set(cards) == {"R2", "R5"}
