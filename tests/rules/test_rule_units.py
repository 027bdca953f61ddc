"""Rule arithmetic on facts built directly: therapy spans, study grouping, eligibility edges."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from cds_service.guideline.classification import BoneStatus, diagnostic_lowest, group_studies
from cds_service.guideline.dates import add_months, add_years
from cds_service.guideline.rules import evaluate_rules
from cds_service.guideline.therapy import exposure_days, merge
from cds_service.guideline.thresholds import load_thresholds
from fhir_mappings.facts import (
    BoneDensityScore,
    DrugClass,
    DxaSite,
    FraxKind,
    FraxRisk,
    Laterality,
    MatchedBy,
    PatientFacts,
    Provenance,
    ScoreKind,
    Sex,
    TherapyEpisode,
    TherapyPeriod,
)

from .conftest import AS_OF

TH = load_thresholds()


def _score(value: float, site: DxaSite, on: date | None, kind: ScoreKind = ScoreKind.T):
    return BoneDensityScore(
        kind, site, Laterality.UNSPECIFIED, value, Provenance("Observation/x", on)
    )


def test_r6_add_months_clamps_to_month_end() -> None:
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_years(date(2024, 2, 29), 1) == date(2025, 2, 28)
    assert add_years(date(2020, 6, 15), 1.5) == date(2021, 12, 15)


def test_r7_merge_bridges_gaps_under_the_limit() -> None:
    a = (date(2020, 1, 1), date(2020, 12, 31))
    b = (date(2021, 3, 31), date(2021, 12, 31))  # 89 days without therapy
    c = (date(2021, 4, 1), date(2021, 12, 31))  # 90 days without therapy
    assert merge([a, b], 90) == [(a[0], b[1])]
    assert merge([a, c], 90) == [a, c]
    assert exposure_days([a, b], date(2022, 6, 1), 90) == (b[1] - a[0]).days + 1
    assert exposure_days([a, c], date(2022, 6, 1), 90) == 366 + 275


def test_r7_exposure_is_clamped_to_the_evaluation_date() -> None:
    span = (date(2020, 1, 1), date(2030, 1, 1))
    assert exposure_days([span], date(2020, 1, 10)) == 10


def test_r1_group_studies_newest_first_and_undated_last() -> None:
    scores = [
        _score(-1.2, DxaSite.LUMBAR_SPINE, date(2024, 1, 1)),
        _score(-1.9, DxaSite.FEMORAL_NECK, date(2024, 1, 25)),
        _score(-2.7, DxaSite.FEMORAL_NECK, date(2020, 1, 1)),
        _score(-3.0, DxaSite.FOREARM, None),
    ]
    studies = group_studies(scores, 30)
    assert [len(s) for s in studies] == [2, 1, 1]
    assert diagnostic_lowest(studies[0]).value == -1.9  # type: ignore[union-attr]


def test_r4_r5_undated_frax_is_never_recent() -> None:
    facts = PatientFacts(
        "Patient/p",
        birth_date=date(1960, 1, 1),
        sex=Sex.FEMALE,
        bone_density_scores=[_score(-1.8, DxaSite.FEMORAL_NECK, AS_OF - timedelta(days=10))],
        frax=[FraxRisk(FraxKind.HIP, 5.0, Provenance("Observation/f", None))],
    )
    rules = {r.rule_id for r in evaluate_rules(facts, AS_OF, TH)}
    assert "R4" not in rules and "R5" in rules


def test_r1_facts_after_the_evaluation_date_are_not_known() -> None:
    facts = PatientFacts(
        "Patient/p",
        birth_date=date(1960, 1, 1),
        sex=Sex.FEMALE,
        bone_density_scores=[_score(-2.8, DxaSite.FEMORAL_NECK, AS_OF + timedelta(days=3))],
    )
    assert evaluate_rules(facts, AS_OF, TH) == []


@pytest.mark.parametrize(("sex", "expected"), [(Sex.MALE, False), (Sex.UNKNOWN, True)])
def test_r1_menopause_code_counts_for_women_and_unknown_sex_only(sex: Sex, expected: bool) -> None:
    from fhir_mappings.facts import Diagnosis, DiagnosisKind

    facts = PatientFacts(
        "Patient/p",
        birth_date=add_years(AS_OF, -45),
        sex=sex,
        bone_density_scores=[_score(-1.8, DxaSite.FEMORAL_NECK, AS_OF - timedelta(days=10))],
        diagnoses=[
            Diagnosis(
                DiagnosisKind.MENOPAUSE,
                "http://snomed.info/sct",
                "289903006",
                Provenance("Condition/m", None),
            )
        ],
    )
    rules = {r.rule_id for r in evaluate_rules(facts, AS_OF, TH)}
    assert ("R2" in rules) is expected


def test_r7_denosumab_within_grace_is_not_yet_stopped() -> None:
    """Version 2: overdue once the last injection is more than 7 months old (R7, denosumab
    7 months −1/+1 day)."""
    dose = add_months(AS_OF, -TH.denosumab_overdue_months)
    facts = PatientFacts(
        "Patient/p",
        birth_date=date(1950, 1, 1),
        sex=Sex.FEMALE,
        therapies=[
            TherapyEpisode(
                DrugClass.DENOSUMAB,
                "denosumab",
                MatchedBy.CODE,
                (TherapyPeriod(dose, dose, Provenance("MedicationStatement/d", dose)),),
            )
        ],
    )
    assert evaluate_rules(facts, AS_OF, TH) == []
    later = AS_OF + timedelta(days=1)
    assert [r.rule_id for r in evaluate_rules(facts, later, TH)] == ["R7"]


def test_r1_classification_status_values() -> None:
    assert {s.value for s in BoneStatus} == {"normal", "osteopenia", "osteoporosis", "unknown"}
