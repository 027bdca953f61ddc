"""O6: a systemic glucocorticoid drafted for a course of 3 months or more (ACR 2022).

The course is found as patient-view finds it (``glucocorticoid_course.current_course``: orders
with gaps under 30 days are one course; replacement doses in adrenal insufficiency are not a
bone-loss drug), on the record with the draft added as what is about to be taken.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from fhir_mappings.draft_orders import DraftOrder
from fhir_mappings.facts import DrugClass, PeriodKind, Provenance, TherapyEpisode, TherapyPeriod

from .. import wording
from ..assessment import Assessment, assess
from ..dates import add_months
from ..glucocorticoid_course import Course, current_course, high_dose_days
from ..medication_bone_loss import acr_category
from ..recommendation import Evidence, Indicator, OrderKind, Reason, Recommendation
from .session import OrderSession, draft_evidence


def _with_draft(a: Assessment, draft: DraftOrder) -> Assessment:
    """The patient's assessment as if the draft were signed today."""
    days = draft.planned_days
    end = a.as_of + timedelta(days=max(int(days) - 1, 0)) if days else a.as_of
    period = TherapyPeriod(
        a.as_of,
        end,
        Provenance(draft.reference, a.as_of, draft.display),
        "draft",
        PeriodKind.ORDER,
        draft.dose,
    )
    therapies = list(a.facts.therapies)
    for index, episode in enumerate(therapies):
        if (
            episode.drug_class is DrugClass.GLUCOCORTICOID
            and episode.ingredient == draft.ingredient
        ):
            periods = (*episode.periods, period)
            therapies[index] = dataclasses.replace(episode, periods=periods)
            break
    else:
        assert draft.ingredient is not None and draft.matched_by is not None
        therapies.append(
            TherapyEpisode(DrugClass.GLUCOCORTICOID, draft.ingredient, draft.matched_by, (period,))
        )
    facts = dataclasses.replace(a.facts, therapies=therapies)
    return assess(facts, a.as_of, a.thresholds)


def _dose_text(draft: DraftOrder) -> str:
    dose = draft.dose
    name = draft.ingredient or "glucocorticoid"
    if dose is None or dose.prednisone_mg_per_day is None:
        return f"{name}, dose not recorded"
    own = f"{name} {wording.number(dose.mg_per_day or 0)} mg/day"
    if name in ("prednisone", "prednisolone"):
        return own
    return f"{own} (prednisone-equivalent {wording.decimals(dose.prednisone_mg_per_day, 1)} mg/day)"


def _dxa_wanted(session: OrderSession, a: Assessment, course: Course) -> bool:
    th = a.thresholds
    if session.dxa_drafted():
        return False
    since = add_months(course.start, -th.glucocorticoid_dxa_prior_months)
    if a.last_dxa is not None and a.last_dxa.date >= since:
        return False
    age = a.eligibility.age or 0
    if age >= th.acr_min_frax_age_years:
        return True
    # Under 40 (ACR 2022): only with a prior fragility fracture or a long high dose.
    fracture = any(f.is_fragility for f in a.facts.fractures)
    return fracture or high_dose_days(a, course, th.acr_young_dxa_dose_mg) >= 182


def glucocorticoid_bone_protection(
    session: OrderSession, draft: DraftOrder
) -> Recommendation | None:
    if draft.drug_class is not DrugClass.GLUCOCORTICOID:
        return None
    a = session.a
    th = a.thresholds
    age = a.eligibility.age
    if age is None or age < th.minimum_age_years or a.eligibility.prematurity is not None:
        return None
    projected = _with_draft(a, draft)
    course = current_course(projected)
    if course is None or course.current.source.reference != draft.reference:
        return None  # replacement in adrenal insufficiency, or a draft that starts no course
    length = max(course.days, course.expected_days)
    if length < th.glucocorticoid_min_days:
        return None
    mg = course.prednisone_mg
    if mg is not None and mg < th.glucocorticoid_min_prednisone_mg:
        return None
    dose = _dose_text(draft)
    orders = list(session.missing_supplements())
    dxa = _dxa_wanted(session, projected, course)
    if dxa:
        orders.append(OrderKind.DXA)
    started = "starting today" if course.start == a.as_of else f"since {wording.day(course.start)}"
    advice = [
        f"**Bone protection for this glucocorticoid course** {{{{ACR2022}}}}: {dose}, a course "
        f"of {length} days {started} with this order. Keep the lowest effective glucocorticoid "
        "dose; give calcium 800–1,000 mg and vitamin D 600–800 IU daily.",
    ]
    if dxa:
        advice.append(
            "DXA with vertebral fracture assessment: none in the 12 months before the course or "
            "since (draft offered)."
        )
    if age >= th.acr_min_frax_age_years:
        category, why = acr_category(projected, course)
        if category == "unknown":
            advice.append(
                "Assess fracture risk with FRAX adjusted for the dose (above "
                f"{wording.number(th.glucocorticoid_frax_adjust_mg)} mg/day: major osteoporotic "
                "fracture × 1.15, hip × 1.2) and the DXA."
            )
        else:
            advice.append(
                f"ACR 2022 risk category: **{category}**"
                + (f" ({'; '.join(why)})" if why else "")
                + (
                    ": treat, an oral bisphosphonate first line."
                    if category in ("very high", "high", "moderate")
                    else "."
                )
            )
    wanted = [
        "calcium" if OrderKind.CALCIUM in orders else "",
        "vitamin D" if OrderKind.CHOLECALCIFEROL in orders else "",
        "DXA" if dxa else "",
    ]
    offered = ", ".join(w for w in wanted if w)
    summary = f"{dose.capitalize()} for {length} days: ACR 2022 bone protection"
    return Recommendation(
        rule_id="O6",
        indicator=Indicator.INFO,
        summary=wording.shorten(summary + (f": {offered}" if offered else "")),
        advice=tuple(advice),
        evidence=(
            draft_evidence(draft),
            *(
                Evidence(
                    f"{course.ingredient.capitalize()} (current course)",
                    f"{wording.day(p.start)} to {wording.day(p.end) if p.end else 'ongoing'}",
                    p.start,
                    p.source.reference,
                )
                for p in course.periods
                if p.source.reference != draft.reference
            ),
        ),
        references=("ACR2022",),
        orders=tuple(orders),
        reason=Reason(f"Glucocorticoid therapy, {dose} (ACR 2022)") if dxa else None,
    )
