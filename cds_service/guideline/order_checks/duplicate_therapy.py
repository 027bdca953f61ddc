"""O3: an osteoporosis drug drafted while another one already covers the patient.

After denosumab a bisphosphonate is not a duplicate but the planned transition (ECTS 2021):
from about six months after the last injection (up to four weeks earlier, so that the first
dose lands on time) it is expected; earlier it overlaps active denosumab.
"""

from __future__ import annotations

from datetime import date, timedelta

from fhir_mappings.draft_orders import DraftOrder
from fhir_mappings.facts import DrugClass, TherapyEpisode

from .. import wording
from ..dates import add_months
from ..duration import last_denosumab_dose
from ..recommendation import Evidence, Indicator, Recommendation
from ..therapy import (
    BISPHOSPHONATES,
    OSTEOPOROSIS_THERAPY,
    episode_spans,
    exposure_days,
    last_period,
)
from .session import OrderSession, draft_evidence, remove


def _coverage_evidence(episode: TherapyEpisode) -> Evidence:
    period = last_period(episode)
    return Evidence(
        f"Current {episode.drug_class.value}",
        f"{episode.ingredient}, last {wording.day(period.start)}",
        period.start,
        period.source.reference,
    )


def _last_injection(session: OrderSession) -> tuple[date, TherapyEpisode] | None:
    """The last denosumab dose, when no bisphosphonate has been started since (as R7 sees it)."""
    found = last_denosumab_dose(session.a)
    if found is None:
        return None
    episode, last = found
    return last.start, episode


def _denosumab_transition(
    session: OrderSession, draft: DraftOrder, last: date, episode: TherapyEpisode
) -> Recommendation:
    a = session.a
    th = a.thresholds
    due = last + timedelta(days=th.denosumab_dose_interval_days)
    from_day = due - timedelta(days=th.order_denosumab_transition_early_days)
    late_after = add_months(last, th.denosumab_overdue_months)
    spans = episode_spans(episode, a.as_of, th)
    denosumab_years = exposure_days(spans, a.as_of, th.therapy_gap_bridge_days) / 365.25
    name = (draft.ingredient or "bisphosphonate").capitalize()
    evidence = (draft_evidence(draft), _coverage_evidence(episode))
    if a.as_of < from_day:
        return Recommendation(
            rule_id="O3",
            indicator=Indicator.WARNING,
            summary=wording.shorten(
                f"{name} drafted while denosumab still covers the patient (last injection "
                f"{wording.day(last)}; next due {wording.day(due)})"
            ),
            advice=(
                f"The last denosumab injection was on {wording.day(last)}; its cover runs to "
                f"{wording.day(due)}. A bisphosphonate now would overlap active denosumab. To "
                f"switch, start it from {wording.day(from_day)}, about six months after the last "
                "injection {{ECTS2021}}.",
            ),
            evidence=evidence,
            references=("ECTS2021", "ENDO2020"),
            removals=(remove(draft),),
        )
    advice = [
        f"Starting a bisphosphonate about six months after the last denosumab injection "
        f"({wording.day(last)}) is the recommended transition: it prevents the rebound bone "
        "loss and vertebral fractures that follow stopping denosumab {{ECTS2021}}.",
    ]
    if a.as_of > late_after:
        advice.append(
            f"The transition is late: the next dose was due on {wording.day(due)}. Give the "
            "bisphosphonate now, and consider spine imaging for new vertebral fractures."
        )
    if denosumab_years > th.denosumab_long_course_years:
        advice.append(
            f"After {denosumab_years:.1f} years of denosumab (more than "
            f"{wording.number(th.denosumab_long_course_years)}), zoledronic acid is the "
            "follow-on of choice {{ECTS2021}}."
        )
    return Recommendation(
        rule_id="O3",
        indicator=Indicator.INFO,
        summary=wording.shorten(
            f"{name} after denosumab (last injection {wording.day(last)}): the recommended "
            "transition, not a duplicate" + ("; late" if a.as_of > late_after else "")
        ),
        advice=tuple(advice),
        evidence=evidence,
        references=("ECTS2021", "ENDO2020"),
    )


def duplicate_therapy(session: OrderSession, draft: DraftOrder) -> Recommendation | None:
    if draft.drug_class not in OSTEOPOROSIS_THERAPY:
        return None
    a = session.a
    # A renewal of the drug the patient takes is not a second therapy.
    others = [e for e in a.current_osteoporosis_therapy if e.ingredient != draft.ingredient]
    if draft.drug_class in BISPHOSPHONATES:
        transition = _last_injection(session)
        non_denosumab = [e for e in others if e.drug_class is not DrugClass.DENOSUMAB]
        if transition is not None and not non_denosumab:
            return _denosumab_transition(session, draft, *transition)
    if not others:
        return None
    current = ", ".join(
        f"{e.ingredient} (last {wording.day(last_period(e).start)})" for e in others
    )
    name = (draft.ingredient or draft.display).capitalize()
    return Recommendation(
        rule_id="O3",
        indicator=Indicator.WARNING,
        summary=wording.shorten(f"Duplicate therapy: {name} drafted while on {current}"),
        advice=(
            f"The patient is already covered by **{current}**. Two osteoporosis drugs together "
            "add risk without proven benefit: remove the draft, or stop the current drug "
            "deliberately if this is a switch.",
        ),
        evidence=(draft_evidence(draft), *(_coverage_evidence(e) for e in others)),
        references=("BHOF2022", "ACP2023"),
        removals=(remove(draft),),
    )
