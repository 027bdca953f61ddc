"""R2: foundational measures for every patient with osteopenia or osteoporosis.

Calcium and vitamin D by age and sex (IOM 2011, BHOF 2022), weight-bearing exercise, and
smoking and alcohol advice when the record shows a reason, named with the fact behind it.
"""

from __future__ import annotations

from fhir_mappings.facts import DrugClass, Sex, SmokingStatus

from . import wording
from .assessment import Assessment
from .monitoring import dxa_schedule
from .recommendation import Evidence, Indicator, OrderKind, Recommendation, SelectionBehavior
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

    if calcium and vitamin_d:
        action = "continue calcium and vitamin D; weight-bearing exercise"
    elif calcium:
        action = "start vitamin D, continue calcium; weight-bearing exercise"
    elif vitamin_d:
        action = "start calcium, continue vitamin D; weight-bearing exercise"
    else:
        action = "start calcium, vitamin D and weight-bearing exercise"
    if smoking:
        action += "; stop smoking"
    if alcohol:
        action += "; limit alcohol"
    summary = wording.shorten(f"{a.classification.headline}: {action}")

    target = wording.number(th.vitamin_d_target_ng_ml)
    advice = [
        "For every patient with low bone mass:",
        f"- **Calcium** {calcium_target_mg(a)} mg/day total intake from diet and supplements "
        "(IOM 2011, BHOF 2022)"
        + (
            f"; already taking {', '.join(sorted({e.ingredient for e in calcium}))}."
            if calcium
            else "; add a supplement when the diet falls short."
        ),
        f"- **Vitamin D** {vitamin_d_intake_iu(a)} IU/day, targeting 25(OH)D ≥ {target} ng/mL"
        + (
            f"; already taking {', '.join(sorted({e.ingredient for e in vitamin_d}))}."
            if vitamin_d
            else "."
        ),
        "- **Weight-bearing exercise** 20–30 minutes three times a week, with "
        "muscle-strengthening and balance training (walking 3–5 miles a week improved hip and "
        "spine density).",
    ]
    evidence: list[Evidence] = list(a.classification.evidence())
    if smoking:
        advice.append("- **Smoking cessation**: the patient currently smokes.")
        evidence.append(
            Evidence(
                "Smoking status", "current smoker", smoking.source.date, smoking.source.reference
            )
        )
    if alcohol:
        advice.append(
            f"- **Limit alcohol**: {wording.number(alcohol.drinks_per_day)} drinks/day recorded "
            f"(more than {wording.number(th.alcohol_excess_drinks_per_day)} is excessive)."
        )
        evidence.append(
            Evidence(
                "Alcohol intake",
                f"{wording.number(alcohol.drinks_per_day)} drinks/day",
                alcohol.source.date,
                alcohol.source.reference,
            )
        )
    level = a.latest_vitamin_d
    if level is not None:
        state = "is below" if below_target(level, th.vitamin_d_target_ng_ml) else "meets"
        shown = result_text(level, th.vitamin_d_target_ng_ml)
        advice.append(
            f"Latest 25(OH)D {shown} on {wording.day(level.source.date)} {state} the target."
        )
        evidence.append(
            Evidence(
                "25-hydroxyvitamin D",
                shown,
                level.source.date,
                level.source.reference,
            )
        )
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
            f"Next DXA due from {wording.day(schedule.due_from)} "
            f"({schedule.interval_text}; last {wording.day(schedule.last.date)})."
        )

    orders: list[OrderKind] = []
    if not vitamin_d and not suggests_cholecalciferol(a):
        orders.append(OrderKind.CHOLECALCIFEROL)
    if not calcium:
        orders.append(OrderKind.CALCIUM)
    return Recommendation(
        rule_id="R2",
        indicator=Indicator.INFO,
        summary=summary,
        advice=tuple(advice),
        evidence=tuple(evidence),
        references=("BHOF2022", "IOM2011", "SEED1", "SEED2", "SEED4"),
        orders=tuple(orders),
        selection_behavior=SelectionBehavior.ANY if orders else None,
        lifelong_note=True,
    )
