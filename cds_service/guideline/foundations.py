"""R2: foundational measures for a patient with osteopenia or osteoporosis, when one is
actionable (clinical-spec §0.3): a calcium or vitamin D supplement missing in a patient on no
osteoporosis drug, current smoking, excess alcohol, or a 25(OH)D below the supplement
threshold or unknown. Calcium food first; vitamin D 800 IU only below the supplement
threshold or when unknown (VITAL found no fracture benefit in the replete).
"""

from __future__ import annotations

from datetime import date

from fhir_mappings.facts import DrugClass, Sex, SmokingStatus

from . import wording
from .assessment import Assessment
from .dates import add_months
from .monitoring import dxa_schedule
from .recommendation import (
    AdviceTopic,
    Deferral,
    Evidence,
    Indicator,
    OrderKind,
    Recommendation,
    SelectionBehavior,
)
from .shared_advice import FALLS
from .therapy import current_episodes
from .vitamin_d import below_target, result_text, suggests_cholecalciferol


def calcium_target_mg(a: Assessment) -> str:
    th, age, sex = a.thresholds, a.eligibility.age or 0, a.facts.sex
    if sex is Sex.FEMALE:
        value = th.calcium_mg_women_51_plus if age >= 51 else th.calcium_mg_women_under_51
    elif sex is Sex.MALE:
        value = th.calcium_mg_men_71_plus if age >= 71 else th.calcium_mg_men_under_71
    else:
        low = min(th.calcium_mg_women_under_51, th.calcium_mg_men_under_71)
        high = max(th.calcium_mg_women_51_plus, th.calcium_mg_men_71_plus)
        return f"{low:,}–{high:,}"
    return f"{value:,}"


def vitamin_d_intake_iu(a: Assessment) -> str:
    """IOM 2011: 600 IU/day to age 70, 800 from 71; the summary's range is 600–800."""
    th = a.thresholds
    if (a.eligibility.age or 0) >= 71:
        return f"{th.vitamin_d_iu_71_plus:,}"
    return f"{th.vitamin_d_iu_under_71:,}–{th.vitamin_d_iu_71_plus:,}"


def _recent_fracture(a: Assessment) -> bool:
    since = add_months(a.as_of, -a.thresholds.recent_fracture_exercise_months)
    fractures = a.classification.fragility_fractures
    return any((f.onset or f.source.date or date.min) >= since for f in fractures)


def foundational_measures(a: Assessment) -> Recommendation | None:
    if not a.low_bone_mass:
        return None
    th, facts = a.thresholds, a.facts
    calcium = current_episodes(facts, {DrugClass.CALCIUM}, a.as_of, th)
    vitamin_d = current_episodes(facts, {DrugClass.VITAMIN_D}, a.as_of, th)
    smoking = (
        facts.smoking if facts.smoking and facts.smoking.status is SmokingStatus.CURRENT else None
    )
    alcohol = (
        facts.alcohol
        if facts.alcohol and facts.alcohol.drinks_per_day > th.alcohol_excess_drinks_per_day
        else None
    )
    level = a.latest_vitamin_d
    level_low_or_unknown = level is None or below_target(
        level, th.vitamin_d_supplement_threshold_ng_ml
    )
    supplement_missing = (not calcium or not vitamin_d) and not a.on_osteoporosis_therapy
    if not (supplement_missing or smoking or alcohol or level_low_or_unknown):
        return None  # nothing to act on: no card (clinical-spec §0.3)

    actions = []
    if not calcium:
        actions.append("calcium from food first")
    if not vitamin_d and level_low_or_unknown:
        actions.append("vitamin D")
    if smoking:
        actions.append("stop smoking")
    if alcohol:
        actions.append("limit alcohol")
    actions.append("exercise and falls prevention")
    summary = wording.shorten(f"{a.classification.headline}: {', '.join(actions)}")

    calcium_taken = (
        f" Already taking {', '.join(sorted({e.ingredient for e in calcium}))}." if calcium else ""
    )
    vitamin_d_taken = (
        f"; already taking {', '.join(sorted({e.ingredient for e in vitamin_d}))}."
        if vitamin_d
        else "."
    )
    calcium_line = (
        f"- **Calcium** {calcium_target_mg(a)} mg/day total intake, food first; a supplement "
        "only if dietary intake is below target {{IOM2011}}." + calcium_taken
    )
    vitamin_d_line = f"- **Vitamin D** {vitamin_d_intake_iu(a)} IU/day {{{{IOM2011}}}}" + (
        vitamin_d_taken
    )
    # another card of the response may state the dose (R3's repletion, ACR 2022 on
    # glucocorticoids): then these lines point to it instead of giving other numbers
    deferrals = (
        Deferral(
            AdviceTopic.CALCIUM_DOSE,
            calcium_line,
            "- **Calcium**: food first, a supplement only if intake falls short; the amount is "
            "on {card}." + calcium_taken,
        ),
        Deferral(
            AdviceTopic.VITAMIN_D_DOSE,
            vitamin_d_line,
            "- **Vitamin D**: the dose is on {card}" + vitamin_d_taken,
        ),
    )
    advice = [calcium_line, vitamin_d_line]
    evidence: list[Evidence] = list(a.classification.evidence())
    if level is not None:
        # as many decimals as either limit needs: 19.99 never reads 20.0, nor 29.99 30.0
        shown = max(
            (
                result_text(level, limit)
                for limit in (th.vitamin_d_target_ng_ml, th.vitamin_d_supplement_threshold_ng_ml)
            ),
            key=len,
        )
        state = (
            "below"
            if below_target(level, th.vitamin_d_supplement_threshold_ng_ml)
            else "at or above"
        )
        advice.append(
            f"- Latest 25(OH)D {shown} on {wording.day(level.source.date)}: {state} the "
            f"{wording.number(th.vitamin_d_supplement_threshold_ng_ml)} ng/mL supplement "
            "threshold."
        )
        evidence.append(
            Evidence("25-hydroxyvitamin D", shown, level.source.date, level.source.reference)
        )
    if _recent_fracture(a):
        advice.append(
            "- **Exercise** as tolerated, with physical therapy, after the recent fracture."
        )
    else:
        advice.append("- **Exercise**: weight-bearing and muscle-strengthening {{BHOF2022}}.")
    if smoking:
        advice.append("- **Smoking cessation**: the patient currently smokes.")
        evidence.append(
            Evidence(
                "Smoking status", "current smoker", smoking.source.date, smoking.source.reference
            )
        )
    if alcohol:
        advice.append(
            f"- **Limit alcohol**: {wording.number(alcohol.drinks_per_day)} drinks/day recorded, "
            f"more than {wording.number(th.alcohol_excess_drinks_per_day)} is excessive."
        )
        evidence.append(
            Evidence(
                "Alcohol intake",
                f"{wording.number(alcohol.drinks_per_day)} drinks/day",
                alcohol.source.date,
                alcohol.source.reference,
            )
        )
    advice.append(FALLS)
    for episode in (*calcium, *vitamin_d):
        period = max(episode.periods, key=lambda p: p.start)
        evidence.append(
            Evidence(
                f"Supplement: {episode.ingredient}",
                "active",
                period.start,
                period.source.reference,
            )
        )
    schedule = dxa_schedule(a)
    if schedule is not None and a.as_of < schedule.due_from:
        advice.append(
            f"Next DXA due from {wording.day(schedule.due_from)}, {schedule.interval_text}; "
            f"last {wording.day(schedule.last.date)}."
        )

    orders: list[OrderKind] = []
    if not vitamin_d and level_low_or_unknown and not suggests_cholecalciferol(a):
        orders.append(OrderKind.CHOLECALCIFEROL)
    if not calcium:
        orders.append(OrderKind.CALCIUM)
    return Recommendation(
        rule_id="R2",
        indicator=Indicator.INFO,
        summary=summary,
        advice=("For this patient with low bone mass:", *advice),
        evidence=tuple(evidence),
        references=("BHOF2022",),
        orders=tuple(orders),
        selection_behavior=SelectionBehavior.ANY if orders else None,
        deferrals=deferrals,
    )
