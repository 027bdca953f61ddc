"""The configurable numbers of the guideline, loaded from one JSON data file.

The shipped defaults live in ``thresholds.json`` beside this module (each entry a value with
its unit and source). A deployment may point ``CDS_THRESHOLDS_FILE`` at a JSON object that
overrides some keys, given either as plain numbers or in the shipped ``{"value": ...}`` form.
Anything else (unknown key, wrong type, inconsistent ranges) stops the service at start-up
rather than letting it give advice from a misread threshold.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path
from typing import Any

from cds_service.settings import ConfigurationError

_DEFAULTS_RESOURCE = "thresholds.json"


@dataclass(frozen=True, slots=True)
class Thresholds:
    adult_min_age_years: int
    minimum_age_years: int
    infant_max_age_years: int
    dxa_study_window_days: int
    t_score_normal_min: float
    t_score_osteoporosis_max: float
    z_score_low_max: float
    fragility_fracture_min_age_years: int
    frax_recency_years: float
    frax_min_age_years: int
    frax_major_osteoporotic_treatment_percent: float
    frax_hip_treatment_percent: float
    vitamin_d_target_ng_ml: float
    vitamin_d_recency_days: int
    vitamin_d_severe_ng_ml: float
    calcium_mg_women_under_51: int
    calcium_mg_women_51_plus: int
    calcium_mg_men_under_71: int
    calcium_mg_men_71_plus: int
    vitamin_d_iu_under_71: int
    vitamin_d_iu_71_plus: int
    alcohol_excess_drinks_per_day: float
    dxa_higher_risk_t_score_max: float
    # clinical v2: very high risk, DXA bands, R2's supplement threshold, R10 screening
    very_high_risk_recent_fracture_months: int
    very_high_risk_t_score_below: float
    very_high_risk_frax_major_percent: float
    very_high_risk_frax_hip_percent: float
    dxa_band_mild_t_score_above: float
    dxa_interval_mild_years: float
    dxa_interval_moderate_min_years: float
    dxa_interval_moderate_max_years: float
    dxa_interval_high_risk_years: float
    dxa_interval_monitoring_years: float
    dxa_min_interval_months: int
    dxa_overdue_grace_years: float
    vitamin_d_supplement_threshold_ng_ml: float
    recent_fracture_exercise_months: int
    screening_women_min_age_years: int
    postmenopausal_age_years: int
    screening_frax_major_without_bmd_percent: float
    screening_ost_below: float
    screening_low_bmi_max: float
    screening_men_enabled: int
    screening_men_min_age_years: int
    oral_bisphosphonate_review_years: float
    oral_bisphosphonate_max_years: float
    iv_bisphosphonate_review_years: float
    therapy_gap_bridge_days: int
    zoledronic_acid_dose_interval_days: int
    denosumab_dose_interval_days: int
    glucocorticoid_min_days: int
    # clinical-spec version 2: safety gates (§0.2), R3, R7 and R8 (§0.3)
    kidney_result_recency_days: int
    kidney_min_alendronate: float
    kidney_min_risedronate: float
    kidney_min_ibandronate: float
    kidney_min_zoledronic_acid: float
    kidney_min_denosumab: float
    calcium_recency_days: int
    calcium_low_corrected_mg_dl: float
    calcium_low_corrected_mmol_l: float
    calcium_ionized_low_mmol_l: float
    calcium_ionized_low_mg_dl: float
    vitamin_d_recheck_days: int
    vitamin_d_repletion_start_weeks_min: int
    vitamin_d_repletion_start_weeks_max: int
    recent_fracture_days: int
    denosumab_overdue_months: int
    denosumab_long_course_years: float
    glucocorticoid_min_prednisone_mg: float
    glucocorticoid_course_gap_days: int
    glucocorticoid_frax_adjust_mg: float
    glucocorticoid_very_high_mg: float
    glucocorticoid_very_high_cumulative_g: float
    glucocorticoid_dxa_prior_months: int
    replacement_hydrocortisone_max_mg: float
    replacement_cortisone_max_mg: float
    replacement_prednisolone_max_mg: float
    acr_very_high_t_score_max: float
    acr_very_high_frax_mof_percent: float
    acr_very_high_frax_hip_percent: float
    acr_high_frax_mof_percent: float
    acr_high_frax_hip_percent: float
    acr_moderate_frax_mof_percent: float
    acr_moderate_frax_hip_percent: float
    acr_min_frax_age_years: int
    acr_young_dxa_dose_mg: float
    acr_young_rapid_loss_percent: float
    acr_young_rapid_loss_days: int
    aromatase_inhibitor_t_score_max: float
    aromatase_inhibitor_t_score_with_risk_factor: float
    aromatase_inhibitor_bmi_below: float
    premature_menopause_max_age_years: int
    # order checks (clinical-spec §5)
    order_denosumab_transition_early_days: int
    order_cancer_therapy_dxa_recency_years: float


_FIELD_TYPES: dict[str, str] = {f.name: str(f.type) for f in fields(Thresholds)}


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot read thresholds file {path}: {exc}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"thresholds file {path} is not valid JSON: {exc}") from exc


def _unwrap(key: str, raw: Any, origin: str) -> Any:
    if isinstance(raw, dict):
        if "value" not in raw:
            raise ConfigurationError(f"{origin}: {key} needs a 'value'")
        return raw["value"]
    return raw


def _coerce(key: str, value: Any, origin: str) -> int | float:
    kind = _FIELD_TYPES[key]
    # bool is an int subclass; a threshold of ``true`` is always a mistake
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigurationError(f"{origin}: {key} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ConfigurationError(f"{origin}: {key} must be finite, got {value!r}")
    if kind == "int":
        if isinstance(value, float) and not value.is_integer():
            raise ConfigurationError(f"{origin}: {key} must be a whole number, got {value!r}")
        return int(value)
    return float(value)


def _merge(values: dict[str, Any], data: Any, origin: str) -> None:
    if not isinstance(data, dict):
        raise ConfigurationError(f"{origin}: thresholds must be a JSON object")
    for key, raw in data.items():
        if key not in _FIELD_TYPES:
            raise ConfigurationError(f"{origin}: unknown threshold {key!r}")
        values[key] = _coerce(key, _unwrap(key, raw, origin), origin)


def _check_consistency(t: Thresholds) -> None:
    problems: list[str] = []
    if not t.t_score_osteoporosis_max < t.t_score_normal_min <= 0:
        problems.append("need t_score_osteoporosis_max < t_score_normal_min <= 0")
    if t.z_score_low_max >= 0:
        problems.append("z_score_low_max must be negative")
    if not 0 <= t.minimum_age_years <= t.adult_min_age_years:
        problems.append("need 0 <= minimum_age_years <= adult_min_age_years")
    for low, high in (
        ("dxa_interval_moderate_min_years", "dxa_interval_moderate_max_years"),
        ("oral_bisphosphonate_review_years", "oral_bisphosphonate_max_years"),
    ):
        if not 0 < getattr(t, low) <= getattr(t, high):
            problems.append(f"need 0 < {low} <= {high}")
    for name in _FIELD_TYPES:
        value = getattr(t, name)
        if name.startswith(
            (
                "t_score",
                "z_score",
                "dxa_higher_risk_t_score",
                "very_high_risk_t",
                "dxa_band",
                "acr_very_high_t",
                "aromatase_inhibitor_t_score",
            )
        ):
            continue
        if value < 0:
            problems.append(f"{name} must not be negative")
    for name in ("frax_major_osteoporotic_treatment_percent", "frax_hip_treatment_percent"):
        if not 0 < getattr(t, name) <= 100:
            problems.append(f"{name} must be a percentage in (0, 100]")
    if not t.dxa_higher_risk_t_score_max < t.dxa_band_mild_t_score_above <= t.t_score_normal_min:
        problems.append(
            "need dxa_higher_risk_t_score_max < dxa_band_mild_t_score_above <= t_score_normal_min"
        )
    if t.screening_men_enabled not in (0, 1):
        problems.append("screening_men_enabled must be 0 or 1")
    if problems:
        raise ConfigurationError("invalid thresholds: " + "; ".join(problems))


def load_thresholds(override: Path | None = None) -> Thresholds:
    """The shipped thresholds, with a deployment file's keys laid over them."""
    shipped = resources.files(__package__).joinpath(_DEFAULTS_RESOURCE)
    values: dict[str, Any] = {}
    _merge(values, json.loads(shipped.read_text(encoding="utf-8")), "shipped thresholds")
    missing = set(_FIELD_TYPES) - set(values)
    if missing:
        raise ConfigurationError(f"shipped thresholds lack {sorted(missing)}")
    if override is not None:
        _merge(values, _read_json(Path(override)), str(override))
    thresholds = Thresholds(**values)
    _check_consistency(thresholds)
    return thresholds
