"""R1: classify bone density (WHO, ISCD, AACE 2020) and the under-50 Z-score card.

The most recent DXA study is every score within the study window of the latest score date;
within it the lowest T-score of lumbar spine, total hip and femoral neck counts (both hips
included), the forearm only when none of those was measured. Values are compared as
reported. Osteoporosis, once established by an earlier T-score, a diagnosis code or a
fragility fracture, is never downgraded by a later, better T-score.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from fhir_mappings.dxa import group_studies as dxa_studies
from fhir_mappings.facts import (
    BoneDensityScore,
    Diagnosis,
    DiagnosisKind,
    DxaSite,
    Fracture,
    FractureSite,
    PatientFacts,
    ScoreKind,
)

from . import wording
from .eligibility import Eligibility, Population
from .recommendation import Evidence, Indicator, Recommendation
from .thresholds import Thresholds

CENTRAL_SITES = frozenset({DxaSite.LUMBAR_SPINE, DxaSite.TOTAL_HIP, DxaSite.FEMORAL_NECK})
# Hip and spine fractures qualify whatever the density; these only with low bone mass (AACE).
MAJOR_FRACTURE_SITES = frozenset({FractureSite.HIP, FractureSite.VERTEBRA})
LOW_MASS_FRACTURE_SITES = frozenset(
    {FractureSite.WRIST, FractureSite.PROXIMAL_HUMERUS, FractureSite.PELVIS}
)
# Osteoporosis persists once diagnosed (AACE 2020); these can truly resolve.
INACTIVE_STATUSES = frozenset({"resolved", "inactive", "remission"})
OSTEOPOROSIS_DIAGNOSES = frozenset(
    {DiagnosisKind.OSTEOPOROSIS, DiagnosisKind.OSTEOPOROSIS_WITH_FRACTURE}
)


class BoneStatus(StrEnum):
    NORMAL = "normal"
    OSTEOPENIA = "osteopenia"
    OSTEOPOROSIS = "osteoporosis"
    UNKNOWN = "unknown"


class Basis(StrEnum):
    T_SCORE = "T-score"
    PRIOR_T_SCORE = "earlier T-score"
    DIAGNOSIS = "diagnosis"
    FRAGILITY_FRACTURE = "fragility fracture"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Classification:
    status: BoneStatus
    basis: Basis
    score: BoneDensityScore | None = None  # lowest diagnostic T of the most recent study
    prior_score: BoneDensityScore | None = None  # an earlier T in the osteoporosis range
    diagnosis: Diagnosis | None = None
    fragility_fractures: tuple[Fracture, ...] = ()
    # the class a displayed T-score reads as, so that rounding for display never changes it
    t_class: Callable[[float], object] | None = field(default=None, compare=False, repr=False)

    @property
    def low_bone_mass(self) -> bool:
        return self.status in (BoneStatus.OSTEOPENIA, BoneStatus.OSTEOPOROSIS)

    @property
    def headline(self) -> str:
        """``Osteopenia (T −1.8, femoral neck, 2024-03-02)``: the status and what it rests on."""
        name = self.status.value.capitalize()
        if self.basis is Basis.T_SCORE and self.score is not None:
            return f"{name} ({score_phrase(self.score, self.t_class)})"
        if self.basis is Basis.PRIOR_T_SCORE and self.prior_score is not None:
            return f"{name} (earlier {score_phrase(self.prior_score, self.t_class)})"
        if self.basis is Basis.FRAGILITY_FRACTURE and self.fragility_fractures:
            fracture = self.fragility_fractures[0]
            return f"{name} ({fracture_phrase(fracture)})"
        if self.basis is Basis.DIAGNOSIS and self.diagnosis is not None:
            when = wording.day(self.diagnosis.source.date)
            coded = wording.code(self.diagnosis.system, self.diagnosis.code)
            return f"{name} (diagnosis {coded}, {when})"
        return name

    def evidence(self) -> tuple[Evidence, ...]:
        items: list[Evidence] = []
        if self.score is not None:
            items.append(
                score_evidence(self.score, "Lowest T-score of the latest DXA", self.t_class)
            )
        if self.prior_score is not None:
            items.append(
                score_evidence(self.prior_score, "Earlier T-score (osteoporosis)", self.t_class)
            )
        if self.diagnosis is not None:
            d = self.diagnosis
            label = d.source.display or d.kind.value
            items.append(
                Evidence(
                    f"Diagnosis: {label}",
                    wording.code(d.system, d.code),
                    d.source.date,
                    d.source.reference,
                )
            )
        for fracture in self.fragility_fractures:
            items.append(fracture_evidence(fracture))
        return tuple(items)


def score_phrase(score: BoneDensityScore, classify: Callable[[float], object] | None = None) -> str:
    site = score.site.value
    if score.laterality.value != "unspecified":
        site = f"{score.laterality.value} {site}"
    when = wording.day(score.source.date)
    return f"{score.kind.value} {wording.score(score.value, classify)}, {site}, {when}"


def score_evidence(
    score: BoneDensityScore, label: str, classify: Callable[[float], object] | None = None
) -> Evidence:
    site = score.site.value
    if score.laterality.value != "unspecified":
        site = f"{score.laterality.value} {site}"
    return Evidence(
        f"{label} ({site})",
        f"{score.kind.value}-score {wording.score(score.value, classify)}",
        score.source.date,
        score.source.reference,
    )


def fracture_phrase(fracture: Fracture) -> str:
    """``hip fragility fracture, 2024-08-14``."""
    site = fracture.site.value
    if fracture.site in (FractureSite.OTHER, FractureSite.UNSPECIFIED):
        site = "osteoporotic" if fracture.osteoporotic_coded else ""
    when = wording.day(fracture.onset or fracture.source.date)
    return f"{site} fragility fracture, {when}".strip()


def fracture_evidence(fracture: Fracture) -> Evidence:
    detail = wording.code(fracture.system, fracture.code)
    if fracture.age_at_onset is not None:
        detail += f", at age {int(fracture.age_at_onset)}"
    if fracture.osteoporotic_coded:
        detail += ", coded osteoporotic"
    return Evidence(
        f"Fragility fracture ({fracture.site.value})",
        detail,
        fracture.onset or fracture.source.date,
        fracture.source.reference,
    )


def current_diagnosis(diagnosis: Diagnosis, as_of: date) -> bool:
    """Known by ``as_of`` and not resolved (for diagnoses that can resolve)."""
    return (
        known(diagnosis.source.date, as_of)
        and (diagnosis.clinical_status or "").lower() not in INACTIVE_STATUSES
    )


def known(on: date | None, as_of: date) -> bool:
    """Undated facts count; facts dated after the evaluation date are not yet known."""
    return on is None or on <= as_of


def group_studies(
    scores: Sequence[BoneDensityScore], window_days: int
) -> list[list[BoneDensityScore]]:
    """Scores grouped into studies, newest first; undated scores form one oldest study."""
    studies = [list(study.scores) for study in dxa_studies(list(scores), window_days)]
    undated = [s for s in scores if s.source.date is None]
    if undated:
        studies.append(undated)
    return studies


def diagnostic_lowest(study: Sequence[BoneDensityScore]) -> BoneDensityScore | None:
    central = [s for s in study if s.site in CENTRAL_SITES]
    candidates = central or [s for s in study if s.site is DxaSite.FOREARM]
    return min(candidates, key=lambda s: s.value) if candidates else None


def t_display_class(thresholds: Thresholds) -> Callable[[float], object]:
    """What a T-score says to a reader: WHO class, R6's bands and R4's very-high cut-off."""
    return lambda value: (
        status_of_t(value, thresholds),
        value <= thresholds.dxa_higher_risk_t_score_max,
        value <= thresholds.dxa_band_mild_t_score_above,
        value < thresholds.very_high_risk_t_score_below,
    )


def z_display_class(thresholds: Thresholds) -> Callable[[float], object]:
    return lambda value: value <= thresholds.z_score_low_max


def status_of_t(value: float, thresholds: Thresholds) -> BoneStatus:
    if value <= thresholds.t_score_osteoporosis_max:
        return BoneStatus.OSTEOPOROSIS
    if value >= thresholds.t_score_normal_min:
        return BoneStatus.NORMAL
    return BoneStatus.OSTEOPENIA


def _scores(facts: PatientFacts, kind: ScoreKind, as_of: date) -> list[BoneDensityScore]:
    return [s for s in facts.bone_density_scores if s.kind is kind and known(s.source.date, as_of)]


def _diagnostic_at(
    facts: PatientFacts, on: date | None, eligibility: Eligibility, th: Thresholds
) -> bool:
    """An earlier T-score diagnoses only if the patient was then of T-score age."""
    if eligibility.menopause is not None or on is None or facts.birth_date is None:
        return True
    age = facts.age_on(on)
    return age is not None and age >= th.adult_min_age_years


def fragility_fractures(
    facts: PatientFacts, as_of: date, thresholds: Thresholds, low_bone_mass: bool
) -> tuple[Fracture, ...]:
    qualifying: list[Fracture] = []
    for fracture in facts.fractures:
        if not known(fracture.onset or fracture.source.date, as_of):
            continue
        if fracture.osteoporotic_coded:
            qualifying.append(fracture)
            continue
        age = fracture.age_at_onset
        if age is None or age < thresholds.fragility_fracture_min_age_years:
            continue  # trauma in youth, or an age we cannot establish, is not fragility
        if fracture.site in MAJOR_FRACTURE_SITES or (
            low_bone_mass and fracture.site in LOW_MASS_FRACTURE_SITES
        ):
            qualifying.append(fracture)
    qualifying.sort(key=lambda f: f.onset or f.source.date or date.min, reverse=True)
    return tuple(qualifying)


def classify_bone_density(
    facts: PatientFacts, as_of: date, thresholds: Thresholds, eligibility: Eligibility
) -> Classification:
    """Bone status of an adult-rule patient; UNKNOWN for everyone else."""
    if not eligibility.adult_rules:
        return Classification(BoneStatus.UNKNOWN, Basis.NONE)
    studies = group_studies(_scores(facts, ScoreKind.T, as_of), thresholds.dxa_study_window_days)
    lowest = [diagnostic_lowest(study) for study in studies]
    current = next((s for s in lowest if s is not None), None)
    prior = next(
        (
            s
            for s in lowest[1:]
            if s is not None
            and s is not current
            and s.value <= thresholds.t_score_osteoporosis_max
            and _diagnostic_at(facts, s.source.date, eligibility, thresholds)
        ),
        None,
    )
    diagnoses = [d for d in facts.diagnoses if known(d.source.date, as_of)]
    osteoporosis_dx = next((d for d in diagnoses if d.kind in OSTEOPOROSIS_DIAGNOSES), None)
    osteopenia_dx = next(
        (
            d
            for d in diagnoses
            if d.kind is DiagnosisKind.OSTEOPENIA and current_diagnosis(d, as_of)
        ),
        None,
    )

    measured = status_of_t(current.value, thresholds) if current is not None else None
    if measured is BoneStatus.OSTEOPOROSIS:
        status, basis = BoneStatus.OSTEOPOROSIS, Basis.T_SCORE
    elif osteoporosis_dx is not None:
        status, basis = BoneStatus.OSTEOPOROSIS, Basis.DIAGNOSIS
    elif prior is not None:
        status, basis = BoneStatus.OSTEOPOROSIS, Basis.PRIOR_T_SCORE
    elif measured is not None:
        status, basis = measured, Basis.T_SCORE
    elif osteopenia_dx is not None:
        status, basis = BoneStatus.OSTEOPENIA, Basis.DIAGNOSIS
    else:
        status, basis = BoneStatus.UNKNOWN, Basis.NONE

    low = status in (BoneStatus.OSTEOPENIA, BoneStatus.OSTEOPOROSIS)
    fractures = fragility_fractures(facts, as_of, thresholds, low)
    if fractures and status is not BoneStatus.OSTEOPOROSIS:
        status, basis = BoneStatus.OSTEOPOROSIS, Basis.FRAGILITY_FRACTURE
    diagnosis = osteoporosis_dx if basis is Basis.DIAGNOSIS and osteoporosis_dx else None
    if diagnosis is None and basis is Basis.DIAGNOSIS:
        diagnosis = osteopenia_dx
    return Classification(
        status=status,
        basis=basis,
        score=current,
        prior_score=prior if status is BoneStatus.OSTEOPOROSIS else None,
        diagnosis=diagnosis,
        fragility_fractures=fractures,
        t_class=t_display_class(thresholds),
    )


def z_score_card(
    facts: PatientFacts, as_of: date, thresholds: Thresholds, eligibility: Eligibility
) -> Recommendation | None:
    """R1's only card: below 50 and not postmenopausal, Z ≤ −2.0 is "below expected range"."""
    if eligibility.population is not Population.YOUNGER_ADULT or eligibility.prematurity:
        return None
    studies = group_studies(_scores(facts, ScoreKind.Z, as_of), thresholds.dxa_study_window_days)
    if not studies:
        return None
    lowest = diagnostic_lowest(studies[0])
    if lowest is None or lowest.value > thresholds.z_score_low_max:
        return None
    z_class = z_display_class(thresholds)
    return Recommendation(
        rule_id="R1",
        indicator=Indicator.INFO,
        summary=(
            f"Z-score {wording.score(lowest.value, z_class)} ({lowest.site.value}, "
            f"{wording.day(lowest.source.date)}) is below the expected range for age: "
            "evaluate secondary causes"
        ),
        advice=(
            f"The lowest Z-score of the latest DXA is {wording.score(lowest.value, z_class)}, "
            "at or below "
            f"{wording.number(thresholds.z_score_low_max)}: bone density is **below the expected "
            "range for age**.",
            "Before age 50 (and before menopause) T-scores are not used to diagnose osteopenia or "
            "osteoporosis (ISCD). Evaluate secondary causes of low bone density (for example "
            "glucocorticoids, hypogonadism, malabsorption, hyperparathyroidism, hyperthyroidism, "
            "chronic kidney or liver disease).",
        ),
        evidence=(score_evidence(lowest, "Lowest Z-score of the latest DXA", z_class),),
        references=("ISCD2023", "WHO1994"),
    )
