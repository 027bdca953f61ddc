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
from .recommendation import AdviceTopic, Claim, Indicator, OrderKind, Recommendation
from .screening import osteoporosis_screening
from .secondary_causes import secondary_cause_card
from .thresholds import Thresholds
from .treatment import treatment_indicated
from .vitamin_d import vitamin_d_card


def _z_score(a: Assessment) -> Recommendation | None:
    """R1: the Z-score card under 50; from 50 the secondary-cause card when R4 is silent."""
    return z_score_card(a.facts, a.as_of, a.thresholds, a.eligibility) or secondary_cause_card(a)


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


def _defer(rec: Recommendation, claimants: dict[AdviceTopic, tuple[str, Claim]]) -> tuple[str, ...]:
    """The card's advice with each line another card claims replaced by a pointer to it."""
    advice = list(rec.advice)
    for deferral in rec.deferrals:
        owner, claim = claimants.get(deferral.topic, (rec.rule_id, None))
        if owner == rec.rule_id or claim is None or deferral.line not in advice:
            continue  # nobody else speaks for the topic: this card says it
        at = advice.index(deferral.line)
        if deferral.replacement:
            advice[at] = deferral.replacement.replace("{card}", claim.card)
        else:
            del advice[at]
    return tuple(advice)


def shape_response(recommendations: list[Recommendation]) -> list[Recommendation]:
    """One response, read as a whole (clinical-spec §0.4): warnings first, the "Always"
    paragraph on the first card that carries it only, and nothing twice: an advice line or a
    draft order already on an earlier card is left out of the later one, and a dose one card
    claims (vitamin D repletion, the glucocorticoid calcium and vitamin D) is the only one
    given: the first card in that order to claim it speaks, the others defer to it."""
    ordered = sorted(recommendations, key=lambda r: r.indicator is not Indicator.WARNING)
    claimants: dict[AdviceTopic, tuple[str, Claim]] = {}
    for rec in ordered:
        for claim in rec.claims:
            claimants.setdefault(claim.topic, (rec.rule_id, claim))
    shown: set[str] = set()
    offered: set[OrderKind] = set()
    always_given = False
    shaped: list[Recommendation] = []
    for rec in ordered:
        deferred = _defer(rec, claimants)
        advice = tuple(line for line in deferred if _structural(line) or line not in shown)
        shown.update(line for line in advice if not _structural(line))
        orders = tuple(kind for kind in rec.orders if kind not in offered)
        offered.update(orders)
        lifelong = rec.lifelong_note and not always_given
        always_given = always_given or lifelong
        if (advice, orders, lifelong) != (rec.advice, rec.orders, rec.lifelong_note):
            rec = dataclasses.replace(
                rec,
                advice=advice,
                orders=orders,
                selection_behavior=rec.selection_behavior if orders else None,
                lifelong_note=lifelong,
            )
        shaped.append(rec)
    return shaped


def _without_redundant_screening(found: dict[str, Recommendation]) -> list[Recommendation]:
    """R10 is the general screening card: when another card of the response already drafts the
    scan for a reason of its own (R8's glucocorticoid or cancer-therapy DXA), a second card
    saying "screening due" only repeats it."""
    if "R10" in found and any(
        OrderKind.DXA in rec.orders for rule_id, rec in found.items() if rule_id != "R10"
    ):
        del found["R10"]
    return list(found.values())


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
    return shape_response(_without_redundant_screening(found))
