"""Thresholds: one shipped data file, deployment overrides, and refusal of bad configuration."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import pytest

from cds_service.engine import Engine
from cds_service.guideline.thresholds import Thresholds, load_thresholds
from cds_service.settings import ConfigurationError

from . import fhir_builders as fb
from .conftest import Run
from .people import LAST_MONTH, woman


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "thresholds.json"
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


def test_shipped_defaults_are_the_specification_values() -> None:
    t = load_thresholds()
    assert (t.t_score_normal_min, t.t_score_osteoporosis_max, t.z_score_low_max) == (
        -1.0,
        -2.5,
        -2.0,
    )
    assert (t.frax_major_osteoporotic_treatment_percent, t.frax_hip_treatment_percent) == (
        20.0,
        3.0,
    )
    assert t.frax_recency_years == 2 and t.vitamin_d_target_ng_ml == 20.0
    assert t.dxa_study_window_days == 30 and t.therapy_gap_bridge_days == 90
    assert (t.oral_bisphosphonate_review_years, t.iv_bisphosphonate_review_years) == (5, 3)
    assert t.glucocorticoid_min_days == 90 and t.alcohol_excess_drinks_per_day == 2
    # v2 (clinical-spec §0.3): R6 bands, very high risk, supplement threshold, screening
    assert (t.dxa_band_mild_t_score_above, t.dxa_higher_risk_t_score_max) == (-1.5, -2.0)
    assert (t.dxa_interval_mild_years, t.dxa_interval_high_risk_years) == (5, 2)
    assert (t.dxa_interval_moderate_min_years, t.dxa_interval_moderate_max_years) == (2, 3)
    assert (t.dxa_interval_monitoring_years, t.dxa_min_interval_months) == (1, 23)
    assert (t.very_high_risk_recent_fracture_months, t.very_high_risk_t_score_below) == (12, -3.0)
    assert (t.very_high_risk_frax_major_percent, t.very_high_risk_frax_hip_percent) == (30, 4.5)
    assert t.vitamin_d_supplement_threshold_ng_ml == 30.0
    assert (t.screening_women_min_age_years, t.postmenopausal_age_years) == (65, 52)
    assert (t.screening_frax_major_without_bmd_percent, t.screening_ost_below) == (8.4, 2.0)
    assert (t.screening_men_enabled, t.screening_men_min_age_years) == (0, 70)
    assert (t.adult_min_age_years, t.minimum_age_years) == (50, 18)


def test_thresholds_are_frozen() -> None:
    t = load_thresholds()
    with pytest.raises(AttributeError):
        t.frax_hip_treatment_percent = 1.0  # type: ignore[misc]


def test_override_replaces_only_given_keys(tmp_path: Path) -> None:
    path = _write(
        tmp_path, {"frax_hip_treatment_percent": 4, "vitamin_d_target_ng_ml": {"value": 30}}
    )
    t = load_thresholds(path)
    assert t.frax_hip_treatment_percent == 4.0 and t.vitamin_d_target_ng_ml == 30.0
    defaults = load_thresholds()
    for f in fields(Thresholds):
        if f.name not in ("frax_hip_treatment_percent", "vitamin_d_target_ng_ml"):
            assert getattr(t, f.name) == getattr(defaults, f.name)


def test_override_changes_the_r4_decision(run: Run, tmp_path: Path) -> None:
    pid = "thr-frax"
    prefetch = fb.prefetch(
        woman(pid),
        fb.t_score(pid, "femur", -1.8, LAST_MONTH),
        fb.vitamin_d(pid, 32, LAST_MONTH),
        fb.frax(pid, "hip", 3.3, LAST_MONTH),
    )
    assert "R4" in run(prefetch, pid)
    stricter = Engine(load_thresholds(_write(tmp_path, {"frax_hip_treatment_percent": 4})))
    assert "R4" not in run(prefetch, pid, using=stricter)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"frax_hip_percent": 3}, "unknown threshold"),
        ({"frax_hip_treatment_percent": "3"}, "must be a number"),
        ({"frax_hip_treatment_percent": True}, "must be a number"),
        ({"frax_hip_treatment_percent": None}, "must be a number"),
        ({"therapy_gap_bridge_days": 90.5}, "whole number"),
        ({"frax_hip_treatment_percent": {"unit": "%"}}, "needs a 'value'"),
        ({"t_score_normal_min": -3.0}, "t_score_osteoporosis_max < t_score_normal_min"),
        ({"dxa_interval_moderate_min_years": 4}, "dxa_interval_moderate_min_years"),
        ({"dxa_band_mild_t_score_above": -2.5}, "dxa_band_mild_t_score_above"),
        ({"screening_men_enabled": 2}, "screening_men_enabled"),
        ({"frax_major_osteoporotic_treatment_percent": 120}, "percentage"),
        ({"glucocorticoid_min_days": -1}, "must not be negative"),
        ([1, 2], "must be a JSON object"),
        ('{"frax_hip_treatment_percent": Infinity}', "finite"),
        ("{not json", "not valid JSON"),
    ],
)
def test_bad_override_is_a_configuration_error(tmp_path: Path, data: object, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        load_thresholds(_write(tmp_path, data))


def test_missing_override_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_thresholds(tmp_path / "absent.json")
