"""R7: therapy review (clinical-spec §0.3), the one place for each of these:

- denosumab overdue (last injection more than 7 months ago, no follow-on): warning, with the
  follow-on drafts (ECTS 2021: zoledronic acid after more than about 2.5 years);
- the holiday review: zoledronic acid 3 infusions (about 3 years) or an oral bisphosphonate for
  5 years (ASBMR 2016), info; 10 years or more, warning (atypical femoral fracture);
- an anabolic stopped with no antiresorptive following: warning, with the follow-on drafts;
- a fragility fracture while on therapy: warning.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from fhir_mappings.facts import DrugClass, Fracture, PeriodKind, TherapyEpisode, TherapyPeriod

from . import wording
from .assessment import Assessment
from .classification import fracture_evidence, fracture_phrase
from .dates import add_months
from .gates import gate_drafts
from .recommendation import (
    ORAL_BISPHOSPHONATE_ORDERS,
    Evidence,
    Indicator,
    OrderKind,
    Recommendation,
    SelectionBehavior,
)
from .therapy import (
    BISPHOSPHONATES,
    OSTEOPOROSIS_THERAPY,
    episode_spans,
    episodes,
    exposure_days,
    is_current,
    merge,
)

ANTIRESORPTIVES = BISPHOSPHONATES | {DrugClass.DENOSUMAB}


@dataclass(frozen=True, slots=True)
class Exposure:
    drug_class: DrugClass
    ingredients: tuple[str, ...]
    days: int
    since: date
    doses: int  # distinct dose dates (infusions), for zoledronic acid
    episodes: tuple[TherapyEpisode, ...]

    @property
    def years(self) -> float:
        return self.days / 365.25


@dataclass(frozen=True, slots=True)
class OverdueDenosumab:
    last_dose: TherapyPeriod  # the last injection (administration), else the last order
    course_years: float
    episode: TherapyEpisode


@dataclass(frozen=True, slots=True)
class StoppedAnabolic:
    ingredient: str
    ended: date
    episode: TherapyEpisode


def _exposure(a: Assessment, drug_class: DrugClass) -> Exposure | None:
    """Cumulative exposure to a drug class that is still being taken."""
    found = episodes(a.facts, {drug_class})
    if not any(is_current(e, a.as_of, a.thresholds) for e in found):
        return None
    spans = [s for e in found for s in episode_spans(e, a.as_of, a.thresholds)]
    bridge = a.thresholds.therapy_gap_bridge_days
    days = exposure_days(spans, a.as_of, bridge)
    since = merge(spans, bridge)[-1][0]
    names = tuple(sorted({e.ingredient for e in found}))
    doses = len({p.start for e in found for p in e.periods if p.start <= a.as_of})
    return Exposure(drug_class, names, days, since, doses, tuple(found))


def _last_dose(episode: TherapyEpisode, as_of: date) -> TherapyPeriod | None:
    given = [p for p in episode.periods if p.start <= as_of]
    administered = [p for p in given if p.kind is PeriodKind.ADMINISTRATION]
    pool = administered or given
    return max(pool, key=lambda p: p.start) if pool else None


def followed_by(a: Assessment, classes: frozenset[DrugClass], after: date) -> bool:
    """Whether a drug of ``classes`` was started on or after ``after`` (up to today)."""
    return any(after <= p.start <= a.as_of for e in episodes(a.facts, classes) for p in e.periods)


def last_denosumab_dose(a: Assessment) -> tuple[TherapyEpisode, TherapyPeriod] | None:
    """The last denosumab dose up to today (an administration, else the order) and its episode,
    when no bisphosphonate has been started since: the dose R7 and the order checks time the
    follow-on from."""
    lasts = [(e, _last_dose(e, a.as_of)) for e in episodes(a.facts, {DrugClass.DENOSUMAB})]
    given = [(e, p) for e, p in lasts if p is not None]
    if not given:
        return None
    episode, last = max(given, key=lambda pair: pair[1].start)
    if followed_by(a, BISPHOSPHONATES, last.start):
        return None  # the transition has been made
    return episode, last


def overdue_denosumab(a: Assessment) -> OverdueDenosumab | None:
    """The last denosumab injection more than 7 months ago with no follow-on started since."""
    found = last_denosumab_dose(a)
    if found is None:
        return None
    episode, last = found
    if a.as_of <= add_months(last.start, a.thresholds.denosumab_overdue_months):
        return None
    first = min(p.start for e in episodes(a.facts, {DrugClass.DENOSUMAB}) for p in e.periods)
    # the course runs from the first dose to the end of the last dose's interval
    course_days = (last.start - first).days + a.thresholds.denosumab_dose_interval_days
    return OverdueDenosumab(last, course_days / 365.25, episode)


def stopped_anabolic(a: Assessment) -> StoppedAnabolic | None:
    """An anabolic no longer covering today with no antiresorptive started after it began."""
    found = episodes(a.facts, {DrugClass.ANABOLIC})
    if not found or any(is_current(e, a.as_of, a.thresholds) for e in found):
        return None

    def last_end(episode: TherapyEpisode) -> date:
        spans = episode_spans(episode, a.as_of, a.thresholds)
        return max((end for _, end in spans), default=date.min)

    latest = max(found, key=last_end)
    spans = episode_spans(latest, a.as_of, a.thresholds)
    if not spans:
        return None
    started = min(start for start, _ in spans)
    ended = max(end for _, end in spans)
    if followed_by(a, ANTIRESORPTIVES, started):
        return None
    return StoppedAnabolic(latest.ingredient, ended, latest)


def follow_on_due(a: Assessment) -> bool:
    """R7 speaks about a stopped denosumab or anabolic; R4 then stays silent."""
    return overdue_denosumab(a) is not None or stopped_anabolic(a) is not None


# Kept for R5, which must not say "treatment depends on fracture risk" after denosumab.
def stopped_denosumab(a: Assessment) -> OverdueDenosumab | None:
    return overdue_denosumab(a)


def fractures_on_therapy(a: Assessment) -> list[Fracture]:
    """Recent fragility fractures whose date falls while osteoporosis therapy covered it."""
    th = a.thresholds
    spans = [
        s for e in episodes(a.facts, OSTEOPOROSIS_THERAPY) for s in episode_spans(e, a.as_of, th)
    ]
    found = []
    for fracture in a.classification.fragility_fractures:
        on = fracture.onset or fracture.source.date
        if on is None or (a.as_of - on).days > th.recent_fracture_days:
            continue
        if any(start < on <= end for start, end in spans):
            found.append(fracture)
    return found


def _period_evidence(episode: TherapyEpisode) -> list[Evidence]:
    items = []
    for period in episode.periods:
        end = wording.day(period.end) if period.end else "ongoing"
        kind = "given" if period.kind is PeriodKind.ADMINISTRATION else period.kind.value
        items.append(
            Evidence(
                f"{episode.ingredient.capitalize()} ({kind})",
                f"{wording.day(period.start)} to {end}",
                period.start,
                period.source.reference,
            )
        )
    return items


def duration_review(a: Assessment) -> Recommendation | None:
    if not a.eligibility.adult_rules:
        return None
    th = a.thresholds
    oral = _exposure(a, DrugClass.ORAL_BISPHOSPHONATE)
    if oral is not None and oral.days < th.oral_bisphosphonate_review_years * 365:
        oral = None
    iv = _exposure(a, DrugClass.IV_BISPHOSPHONATE)
    if iv is not None and iv.doses < 3 and iv.days < th.iv_bisphosphonate_review_years * 365:
        iv = None
    denosumab = overdue_denosumab(a)
    anabolic = stopped_anabolic(a)
    fractures = fractures_on_therapy(a)
    if not (oral or iv or denosumab or anabolic or fractures):
        return None

    parts: list[str] = []
    advice: list[str] = []
    evidence: list[Evidence] = []
    warning = False
    references = ["ASBMR2016", "ACP2023"]
    if denosumab is not None:
        warning = True
        last = denosumab.last_dose
        given = {
            PeriodKind.ADMINISTRATION: "last injection",
            PeriodKind.STATEMENT: "last recorded dose",
            PeriodKind.ORDER: "last order",
        }[last.kind]
        parts.append(
            f"Denosumab overdue ({given} {wording.day(last.start)}, over "
            f"{th.denosumab_overdue_months} months): give the dose now or start a bisphosphonate"
        )
        advice.append(
            f"**Denosumab is overdue and is never given a drug holiday.** The {given} was on "
            f"{wording.day(last.start)}, more than {th.denosumab_overdue_months} months ago (6 "
            "months plus 4 weeks), and no bisphosphonate followed: its effect wears off within "
            "months, with rebound bone loss and multiple vertebral fractures. Give the overdue "
            "dose now or start a bisphosphonate, and consider spine imaging for vertebral "
            "fractures {{ECTS2021}}."
        )
        if denosumab.course_years > th.denosumab_long_course_years:
            advice.append(
                f"After {denosumab.course_years:.1f} years of denosumab (more than "
                f"{wording.number(th.denosumab_long_course_years)}), zoledronic acid is the "
                "follow-on of choice {{ECTS2021}}; an oral bisphosphonate is the alternative."
            )
        evidence.extend(_period_evidence(denosumab.episode))
        references.append("ENDO2019")
    if anabolic is not None:
        warning = True
        parts.append(
            f"{anabolic.ingredient.capitalize()} ended {wording.day(anabolic.ended)} with no "
            "antiresorptive after it: start one now"
        )
        advice.append(
            f"**{anabolic.ingredient.capitalize()} has ended** ({wording.day(anabolic.ended)}) "
            "and no antiresorptive followed. The bone gained on an anabolic is lost within "
            "a year without one: start a bisphosphonate (or denosumab) now."
        )
        evidence.extend(_period_evidence(anabolic.episode))
    for fracture in fractures:
        warning = True
        parts.append(f"{fracture_phrase(fracture).capitalize()} while on therapy")
        advice.append(
            f"**Fracture on therapy:** a {fracture_phrase(fracture)} occurred while osteoporosis "
            "therapy covered that date. Check adherence and how the drug is taken, look for "
            "secondary causes, and consider switching therapy (for example to an anabolic) or "
            "referral to a bone specialist."
        )
        evidence.append(fracture_evidence(fracture))
    for exposure, review_years in (
        (oral, th.oral_bisphosphonate_review_years),
        (iv, th.iv_bisphosphonate_review_years),
    ):
        if exposure is None:
            continue
        names = ", ".join(exposure.ingredients)
        long_course = exposure.years >= th.oral_bisphosphonate_max_years
        warning = warning or long_course
        what = (
            f"{exposure.doses} infusions"
            if exposure is iv and exposure.doses >= 3
            else f"{exposure.years:.1f} years"
        )
        parts.append(
            f"{names.capitalize()} for {exposure.years:.1f} years: "
            + (
                "atypical femoral fracture risk; holiday unless still very high risk"
                if long_course
                else "reassess fracture risk; drug holiday only if no longer high risk"
            )
        )
        kind = "oral bisphosphonate" if exposure is oral else "zoledronic acid"
        advice.append(
            f"The patient has taken {kind} ({names}) for **{what}** (since "
            f"{wording.day(exposure.since)}; gaps under {th.therapy_gap_bridge_days} days "
            f"counted as therapy). After {wording.number(review_years)} years"
            + (" or 3 infusions" if exposure is iv else "")
            + ", reassess fracture risk: continue if still at high risk, otherwise consider a "
            "drug holiday of 2–3 years with review of risk {{ASBMR2016}} {{ACP2023}}."
        )
        if long_course:
            advice.append(
                f"**{wording.number(th.oral_bisphosphonate_max_years)} years or more:** the risk "
                "of atypical femoral fracture rises: ask about thigh or groin pain, and plan a "
                "drug holiday unless fracture risk is still very high {{ASBMR2016}}."
            )
        for episode in exposure.episodes:
            evidence.extend(_period_evidence(episode))

    orders: tuple[OrderKind, ...] = ()
    companions: tuple[OrderKind, ...] = ()
    if denosumab is not None or anabolic is not None:
        # the follow-on drafts, through the same gates; the stopped drug is not "current"
        gated = gate_drafts(a, ORAL_BISPHOSPHONATE_ORDERS, ignore={DrugClass.DENOSUMAB})
        orders, companions = gated.orders, gated.companions
        advice.extend(gated.advice)
        evidence.extend(e for e in gated.evidence if e not in evidence)
    references.append("BHOF2022")
    return Recommendation(
        rule_id="R7",
        indicator=Indicator.WARNING if warning else Indicator.INFO,
        summary=wording.shorten("; ".join(parts)),
        advice=tuple(advice),
        evidence=tuple(evidence),
        references=tuple(references),
        orders=orders,
        companion_orders=companions,
        selection_behavior=SelectionBehavior.AT_MOST_ONE if orders else None,
    )
