"""R1: WHO classification of the most recent DXA study, with ISCD site and age rules."""

from __future__ import annotations

import pytest

from . import fhir_builders as fb
from .conftest import Run
from .people import LAST_MONTH, born, days_ago, man, months_ago, woman

LOW_MASS_RULES = {"R2", "R3", "R4", "R5", "R6", "R8"}


def _vit_d(pid: str) -> dict:
    return fb.vitamin_d(pid, 32, LAST_MONTH)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (-1.0, set()),  # normal: T >= -1.0
        (-1.01, {"R2", "R5"}),  # osteopenia
        (-2.49, {"R2", "R5"}),  # osteopenia (R6: T <= -2.0 is higher risk, DXA 1 month old)
        (-2.5, {"R2", "R4"}),  # osteoporosis
    ],
)
def test_r1_t_score_boundaries(run: Run, value: float, expected: set[str]) -> None:
    pid = f"r1-bound-{abs(value)}".replace(".", "-")
    cards = run(
        fb.prefetch(woman(pid), fb.t_score(pid, "femur", value, LAST_MONTH), _vit_d(pid)), pid
    )
    assert set(cards) == expected
    if value == -2.5:
        assert "T −2.5, femoral neck" in cards["R4"]["summary"]


def test_r1_lowest_of_several_sites_wins(run: Run) -> None:
    pid = "r1-sites"
    cards = run(
        fb.prefetch(
            woman(pid),
            fb.t_score(pid, "lumbar spine", -2.1, LAST_MONTH),
            fb.t_score(pid, "femur", -2.6, LAST_MONTH),
            fb.t_score(pid, "hip", -1.8, LAST_MONTH),
            _vit_d(pid),
        ),
        pid,
    )
    assert "R4" in cards and "T −2.6, femoral neck" in cards["R4"]["summary"]


def test_r1_both_hips_lowest_counts(run: Run) -> None:
    pid = "r1-hips"
    cards = run(
        fb.prefetch(
            woman(pid),
            fb.t_score(pid, "hip right", -0.8, LAST_MONTH),
            fb.t_score(pid, "hip left", -1.62, LAST_MONTH),
            _vit_d(pid),
        ),
        pid,
    )
    assert set(cards) == {"R2", "R5"}
    assert "T −1.62, left total hip" in cards["R2"]["summary"]


def test_r1_forearm_only_when_no_central_site(run: Run) -> None:
    pid = "r1-forearm-ignored"
    cards = run(
        fb.prefetch(
            woman(pid),
            fb.t_score(pid, "lumbar spine", -0.5, LAST_MONTH),
            fb.t_score(pid, "forearm", -2.8, LAST_MONTH),
            _vit_d(pid),
        ),
        pid,
    )
    assert cards == {}
    pid = "r1-forearm-alone"
    cards = run(
        fb.prefetch(woman(pid), fb.t_score(pid, "forearm", -2.8, LAST_MONTH), _vit_d(pid)), pid
    )
    assert "R4" in cards and "forearm" in cards["R4"]["summary"]


def test_r1_calcaneus_never_diagnoses(run: Run) -> None:
    pid = "r1-calcaneus"
    cards = run(
        fb.prefetch(woman(pid), fb.t_score(pid, "calcaneus", -3.0, LAST_MONTH), _vit_d(pid)), pid
    )
    assert cards == {}


def test_r1_most_recent_study_within_30_days(run: Run) -> None:
    pid = "r1-window"
    # spine 20 days before the hip belongs to the same study; an older -2.0 does not
    cards = run(
        fb.prefetch(
            woman(pid),
            fb.t_score(pid, "hip", -0.9, LAST_MONTH),
            fb.t_score(pid, "lumbar spine", -1.4, days_ago(50)),
            fb.t_score(pid, "femur", -2.0, months_ago(30)),
            _vit_d(pid),
        ),
        pid,
    )
    assert "T −1.4, lumbar spine" in cards["R2"]["summary"]
    pid = "r1-window-out"
    cards = run(
        fb.prefetch(
            woman(pid),
            fb.t_score(pid, "hip", -0.9, LAST_MONTH),
            fb.t_score(pid, "lumbar spine", -1.4, days_ago(80)),
            _vit_d(pid),
        ),
        pid,
    )
    assert cards == {}


def test_r1_osteoporosis_never_downgraded_by_later_better_t(run: Run) -> None:
    pid = "r1-persist"
    cards = run(
        fb.prefetch(
            woman(pid),
            fb.t_score(pid, "femur", -2.7, months_ago(30)),
            fb.t_score(pid, "femur", -2.3, LAST_MONTH),
            _vit_d(pid),
        ),
        pid,
    )
    assert cards["R2"]["summary"].startswith("Osteoporosis (earlier T −2.7")
    assert "R4" in cards


def test_r1_osteoporosis_code_with_normal_dxa_stays_osteoporosis(run: Run) -> None:
    pid = "r1-code"
    cards = run(
        fb.prefetch(
            woman(pid),
            fb.t_score(pid, "femur", -0.5, LAST_MONTH),
            fb.condition(pid, fb.ICD10, "M81.0", "Age-related osteoporosis", months_ago(40)),
            _vit_d(pid),
        ),
        pid,
    )
    assert cards["R2"]["summary"].startswith("Osteoporosis (diagnosis ICD-10-CM M81.0")


def test_r1_osteopenia_condition_without_dxa_counts(run: Run) -> None:
    pid = "r1-osteopenia-code"
    cards = run(
        fb.prefetch(
            woman(pid),
            fb.condition(pid, fb.SNOMED, "312894000", "Osteopenia", months_ago(6)),
            _vit_d(pid),
        ),
        pid,
    )
    # v2: R5 waits for the DXA that R6 asks for
    assert set(cards) == {"R2", "R6"}
    assert "no DXA on record" in cards["R6"]["summary"]
    dxa = cards["R6"]["suggestions"][0]["actions"][0]["resource"]
    assert dxa["reasonReference"][0]["reference"].startswith("Condition/")


@pytest.mark.parametrize("verification", ["refuted", "entered-in-error"])
def test_r1_refuted_or_erroneous_condition_does_not_count(run: Run, verification: str) -> None:
    pid = f"r1-{verification}"
    cards = run(
        fb.prefetch(
            woman(pid),
            fb.condition(
                pid, fb.SNOMED, "64859006", "Osteoporosis", months_ago(6), verification=verification
            ),
        ),
        pid,
    )
    assert cards == {}


@pytest.mark.parametrize("status", ["entered-in-error", "preliminary", "cancelled", "registered"])
def test_r1_unusable_observation_status_ignored(run: Run, status: str) -> None:
    pid = f"r1-status-{status}"
    cards = run(
        fb.prefetch(
            woman(pid), fb.t_score(pid, "femur", -2.8, LAST_MONTH, status=status), _vit_d(pid)
        ),
        pid,
    )
    assert cards == {}


def test_r1_amended_result_counts(run: Run) -> None:
    pid = "r1-amended"
    cards = run(
        fb.prefetch(
            woman(pid), fb.t_score(pid, "femur", -1.7, LAST_MONTH, status="amended"), _vit_d(pid)
        ),
        pid,
    )
    assert "T −1.7" in cards["R2"]["summary"]


def test_r1_resolved_hip_fracture_after_50_establishes_osteoporosis(run: Run) -> None:
    pid = "r1-fracture"
    cards = run(
        fb.prefetch(
            man(pid, 72),
            fb.t_score(pid, "femur", -0.4, LAST_MONTH),
            fb.condition(
                pid,
                fb.SNOMED,
                "5913000",
                "Fracture of neck of femur",
                months_ago(24),
                clinical="resolved",
            ),
            _vit_d(pid),
        ),
        pid,
    )
    assert set(cards) == {"R2", "R4"}


def test_r1_fracture_before_50_is_not_fragility(run: Run) -> None:
    pid = "r1-young-fracture"
    cards = run(
        fb.prefetch(
            man(pid, 70),
            fb.t_score(pid, "femur", -0.4, LAST_MONTH),
            fb.condition(
                pid,
                fb.ICD10,
                "S72.001A",
                "Fracture of neck of femur",
                born(70).replace(year=born(70).year + 30),
            ),
            _vit_d(pid),
        ),
        pid,
    )
    assert cards == {}


def test_r1_osteoporotic_coded_fracture_before_50_counts(run: Run) -> None:
    pid = "r1-young-m80"
    onset = born(70).replace(year=born(70).year + 45)
    cards = run(
        fb.prefetch(
            man(pid, 70),
            fb.t_score(pid, "femur", -0.4, LAST_MONTH),
            fb.condition(
                pid,
                fb.ICD10,
                "M80.051A",
                "Age-related osteoporosis with current pathological fracture, right femur",
                onset,
            ),
            _vit_d(pid),
        ),
        pid,
    )
    assert "R4" in cards


def test_r1_ankle_fracture_is_not_a_major_site(run: Run) -> None:
    pid = "r1-ankle"
    cards = run(
        fb.prefetch(
            woman(pid, 70),
            fb.t_score(pid, "femur", -1.5, LAST_MONTH),
            fb.condition(pid, fb.SNOMED, "16114001", "Fracture of ankle", months_ago(12)),
            fb.frax(pid, "major", 9, LAST_MONTH),
            _vit_d(pid),
        ),
        pid,
    )
    assert set(cards) == {"R2"}  # osteopenia, FRAX below thresholds: no treatment card


def test_r1_wrist_fracture_counts_only_with_osteopenia(run: Run) -> None:
    wrist = ("S52.501A", "Unspecified fracture of the lower end of right radius")
    pid = "r1-wrist-osteopenia"
    cards = run(
        fb.prefetch(
            woman(pid, 66),
            fb.t_score(pid, "femur", -1.5, LAST_MONTH),
            fb.condition(pid, fb.ICD10, *wrist, months_ago(12)),
            _vit_d(pid),
        ),
        pid,
    )
    assert "R4" in cards and "wrist fragility fracture" in cards["R4"]["summary"]
    pid = "r1-wrist-normal"
    cards = run(
        fb.prefetch(
            woman(pid, 66),
            fb.t_score(pid, "femur", -0.5, LAST_MONTH),
            fb.condition(pid, fb.ICD10, *wrist, months_ago(12)),
            _vit_d(pid),
        ),
        pid,
    )
    assert cards == {}


@pytest.mark.parametrize(("age", "expected"), [(49, set()), (50, {"R2", "R5"})])
def test_r1_adult_rules_from_age_50(run: Run, age: int, expected: set[str]) -> None:
    pid = f"r1-man-{age}"
    cards = run(
        fb.prefetch(man(pid, age), fb.t_score(pid, "femur", -1.8, LAST_MONTH), _vit_d(pid)), pid
    )
    assert set(cards) == expected


def test_r1_postmenopausal_woman_under_50_is_classified(run: Run) -> None:
    pid = "r1-menopause-45"
    cards = run(
        fb.prefetch(
            woman(pid, 45),
            fb.condition(pid, fb.ICD10, "Z78.0", "Asymptomatic menopausal state", months_ago(24)),
            fb.t_score(pid, "femur", -1.8, LAST_MONTH),
            _vit_d(pid),
        ),
        pid,
    )
    assert set(cards) == {"R2", "R5"}


@pytest.mark.parametrize(("z", "expected"), [(-2.0, {"R1"}), (-1.9, set())])
def test_r1_z_score_under_50_info_card_only(run: Run, z: float, expected: set[str]) -> None:
    pid = f"r1-z-{abs(z)}".replace(".", "-")
    cards = run(
        fb.prefetch(
            woman(pid, 35),
            fb.t_score(pid, "lumbar spine", -2.6, LAST_MONTH),
            fb.z_score(pid, "lumbar spine", z, LAST_MONTH),
            _vit_d(pid),
        ),
        pid,
    )
    assert set(cards) == expected
    if expected:
        card = cards["R1"]
        assert card["indicator"] == "info"
        assert "below the expected range for age" in card["summary"]
        assert "secondary causes" in card["summary"]


def test_r1_under_18_no_adult_rules(run: Run) -> None:
    pid = "r1-child"
    cards = run(
        fb.prefetch(
            woman(pid, 16),
            fb.condition(pid, fb.ICD10, "Z78.0", "Asymptomatic menopausal state", months_ago(6)),
            fb.t_score(pid, "femur", -2.8, LAST_MONTH),
            fb.z_score(pid, "femur", -2.8, LAST_MONTH),
            fb.condition(pid, fb.SNOMED, "359817006", "Closed fracture of hip", months_ago(6)),
        ),
        pid,
    )
    assert cards == {}


def test_r1_resolved_osteopenia_code_without_dxa_does_not_count(run: Run) -> None:
    pid = "r1-osteopenia-resolved"
    cards = run(
        fb.prefetch(
            woman(pid),
            fb.condition(
                pid, fb.SNOMED, "312894000", "Osteopenia", months_ago(30), clinical="resolved"
            ),
        ),
        pid,
    )
    assert cards == {}


def test_r1_resolved_osteoporosis_code_still_counts(run: Run) -> None:
    pid = "r1-osteoporosis-resolved"
    cards = run(
        fb.prefetch(
            woman(pid),
            fb.condition(
                pid, fb.SNOMED, "64859006", "Osteoporosis", months_ago(30), clinical="resolved"
            ),
            _vit_d(pid),
        ),
        pid,
    )
    assert {"R2", "R4"} <= set(cards)
