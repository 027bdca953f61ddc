"""All guideline rules, run in order over one patient's facts."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date

from fhir_mappings.facts import PatientFacts

from .assessment import Assessment, assess
from .classification import z_score_card
from .data_completeness import birth_date_missing
from .duration import duration_review
from .foundations import foundational_measures
from .frax_assessment import fracture_risk_not_assessed
from .medication_bone_loss import medication_bone_loss
from .monitoring import dxa_monitoring
from .prematurity import osteopenia_of_prematurity
from .recommendation import Indicator, Recommendation
from .screening import osteoporosis_screening
from .thresholds import Thresholds
from .treatment import treatment_indicated
from .vitamin_d import vitamin_d_card


def _z_score(a: Assessment) -> Recommendation | None:
    return z_score_card(a.facts, a.as_of, a.thresholds, a.eligibility)


RULES: tuple[Callable[[Assessment], Recommendation | None], ...] = (
    birth_date_missing,  # R0
    _z_score,  # R1
    foundational_measures,  # R2
    vitamin_d_card,  # R3
    treatment_indicated,  # R4
    fracture_risk_not_assessed,  # R5
    dxa_monitoring,  # R6
    duration_review,  # R7
    medication_bone_loss,  # R8
    osteopenia_of_prematurity,  # R9
    osteoporosis_screening,  # R10
)


def _structural(line: str) -> bool:
    """Blank lines and list headings ("Criteria met:") may repeat; advice may not."""
    return not line or line.endswith(":")


def shape_response(recommendations: list[Recommendation]) -> list[Recommendation]:
    """One response, read as a whole (clinical-spec §0.4): warnings first, the "Always"
    paragraph on the first card that carries it only, and no advice line twice: a line
    already shown on an earlier card is left out of the later one."""
    ordered = sorted(recommendations, key=lambda r: r.indicator is not Indicator.WARNING)
    shown: set[str] = set()
    always_given = False
    shaped: list[Recommendation] = []
    for rec in ordered:
        advice = tuple(line for line in rec.advice if _structural(line) or line not in shown)
        shown.update(line for line in advice if not _structural(line))
        lifelong = rec.lifelong_note and not always_given
        always_given = always_given or lifelong
        if advice != rec.advice or lifelong != rec.lifelong_note:
            rec = dataclasses.replace(rec, advice=advice, lifelong_note=lifelong)
        shaped.append(rec)
    return shaped


def evaluate_rules(
    facts: PatientFacts, as_of: date, thresholds: Thresholds
) -> list[Recommendation]:
    """Recommendations for one patient: at most one per rule; none for a patient who has died
    (no screening, supplements or drug advice belongs on a deceased patient's chart)."""
    if facts.deceased:
        return []
    assessment = assess(facts, as_of, thresholds)
    found: dict[str, Recommendation] = {}
    for rule in RULES:
        recommendation = rule(assessment)
        if recommendation is not None and recommendation.rule_id not in found:
            found[recommendation.rule_id] = recommendation
    return shape_response(list(found.values()))
