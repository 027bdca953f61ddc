"""Who the adult rules speak for (clinical-spec §2, first paragraph; R9).

Adult rules (R1–R8) apply from age 50, or to a woman with a recorded menopause, never under
18. Osteopenia of prematurity and every patient under 18 switch them off. Without a birth
date nothing age-dependent can be decided, so the adult rules stay silent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from fhir_mappings.facts import Diagnosis, DiagnosisKind, PatientFacts, Sex

from .thresholds import Thresholds


class Population(StrEnum):
    ADULT = "adult"  # adult rules apply
    YOUNGER_ADULT = "younger adult"  # 18–49 and not postmenopausal: Z-scores only
    CHILD = "child"  # under 18: adult rules suppressed
    AGE_UNKNOWN = "age unknown"  # no birth date: no age-dependent rule


@dataclass(frozen=True, slots=True)
class Eligibility:
    age: int | None
    population: Population
    menopause: Diagnosis | None
    prematurity: Diagnosis | None  # the R9 trigger, when present

    @property
    def adult_rules(self) -> bool:
        return self.population is Population.ADULT and self.prematurity is None


def _active(diagnosis: Diagnosis) -> bool:
    return (diagnosis.clinical_status or "").lower() not in ("resolved", "inactive", "remission")


def _age_in_days(facts: PatientFacts, on: date) -> int | None:
    return None if facts.birth_date is None else (on - facts.birth_date).days


def _menopause(facts: PatientFacts, as_of: date) -> Diagnosis | None:
    if facts.sex is Sex.MALE:
        return None
    found = [
        d
        for d in facts.diagnoses
        # primary ovarian insufficiency (E28.39) is a menopause too, if not in the value set
        if d.kind in (DiagnosisKind.MENOPAUSE, DiagnosisKind.PREMATURE_MENOPAUSE)
        and (d.source.date is None or d.source.date <= as_of)
    ]
    return found[0] if found else None


def _prematurity(
    facts: PatientFacts, age: int | None, as_of: date, thresholds: Thresholds
) -> Diagnosis | None:
    """R9's trigger: the prematurity code in a child, or osteopenia in an infant.

    An adult's problem list may still carry the neonatal code; it says nothing about the
    adult skeleton, so it neither fires R9 nor silences the adult rules from age 18.
    """
    if age is not None and age >= thresholds.minimum_age_years:
        return None
    dated = [d for d in facts.diagnoses if d.source.date is None or d.source.date <= as_of]
    for diagnosis in dated:
        if diagnosis.kind is DiagnosisKind.OSTEOPENIA_OF_PREMATURITY and _active(diagnosis):
            return diagnosis
    days = _age_in_days(facts, as_of)
    if days is not None and age is not None and age < thresholds.infant_max_age_years:
        for diagnosis in dated:
            if diagnosis.kind is DiagnosisKind.OSTEOPENIA and _active(diagnosis):
                return diagnosis
    return None


def assess_eligibility(facts: PatientFacts, as_of: date, thresholds: Thresholds) -> Eligibility:
    age = facts.age_on(as_of)
    if age is not None and age < 0:
        age = None  # a birth date after the evaluation date is not an age
    menopause = _menopause(facts, as_of)
    prematurity = _prematurity(facts, age, as_of, thresholds)
    if age is None:
        population = Population.AGE_UNKNOWN
    elif age < thresholds.minimum_age_years:
        population = Population.CHILD
    elif age >= thresholds.adult_min_age_years or menopause is not None:
        population = Population.ADULT
    else:
        population = Population.YOUNGER_ADULT
    return Eligibility(age, population, menopause, prematurity)
