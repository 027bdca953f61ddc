"""R0: no birth date → no age-dependent rule fires; an info card says so."""

from __future__ import annotations

from . import fhir_builders as fb
from .conftest import Run
from .people import LAST_MONTH, man, months_ago, woman


def test_r0_missing_birth_date_silences_age_rules(run: Run) -> None:
    pid = "r0-no-birth"
    cards = run(
        fb.prefetch(
            woman(pid, None),
            fb.condition(pid, fb.ICD10, "Z78.0", "Asymptomatic menopausal state", months_ago(24)),
            fb.t_score(pid, "femur", -2.7, LAST_MONTH),
            fb.vitamin_d(pid, 10, LAST_MONTH),
        ),
        pid,
    )
    assert set(cards) == {"R0"}
    card = cards["R0"]
    assert card["indicator"] == "info"
    assert card["summary"].startswith("Birth date missing")
    assert "1 DXA score" in card["detail"]


def test_r0_invalid_birth_date_treated_as_missing(run: Run) -> None:
    pid = "r0-bad-birth"
    patient = man(pid, 70)
    patient["birthDate"] = "not-a-date"
    cards = run(fb.prefetch(patient, fb.t_score(pid, "femur", -2.7, LAST_MONTH)), pid)
    assert set(cards) == {"R0"}


def test_r0_prematurity_still_reported_without_birth_date(run: Run) -> None:
    pid = "r0-premature"
    cards = run(
        fb.prefetch(
            fb.patient(pid, None, "male"),
            fb.condition(pid, fb.SNOMED, "276703007", "Osteopenia of prematurity", months_ago(1)),
        ),
        pid,
    )
    assert set(cards) == {"R0", "R9"}


def test_r0_empty_prefetch_gives_no_cards(run: Run) -> None:
    assert run({}, "nobody") == {}
    assert run({"patient": None, "observations": None}, "nobody") == {}
