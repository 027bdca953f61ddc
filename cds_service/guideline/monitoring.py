"""R6: DXA monitoring interval (BHOF 2022; Gourlay 2012 on longer intervals)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from fhir_mappings.facts import DxaEvent

from . import wording
from .assessment import Assessment
from .recommendation import Evidence, Indicator, OrderKind, Recommendation, SelectionBehavior
from .treatment import treatment_criteria


@dataclass(frozen=True, slots=True)
class DxaSchedule:
    last: DxaEvent
    higher_risk: bool
    due_from: date
    overdue_after: date
    interval: str  # "every 1–2 years"
    why: str  # "on treatment"

    @property
    def interval_text(self) -> str:
        return f"{self.interval} ({self.why})"


def dxa_schedule(a: Assessment) -> DxaSchedule | None:
    from .dates import add_years

    if a.last_dxa is None:
        return None
    th = a.thresholds
    score = a.classification.score
    reasons = []
    if a.on_osteoporosis_therapy:
        reasons.append("on treatment")
    if treatment_criteria(a):
        reasons.append("treatment criteria met")
    if score is not None and score.value <= th.dxa_higher_risk_t_score_max:
        reasons.append(f"T-score at or below {wording.number(th.dxa_higher_risk_t_score_max)}")
    if reasons:
        low, high = th.dxa_interval_high_risk_min_years, th.dxa_interval_high_risk_max_years
        why = ", ".join(reasons)
    else:
        low, high = th.dxa_interval_low_risk_min_years, th.dxa_interval_low_risk_max_years
        why = "untreated, lower risk"
    return DxaSchedule(
        last=a.last_dxa,
        higher_risk=bool(reasons),
        due_from=add_years(a.last_dxa.date, low),
        overdue_after=add_years(a.last_dxa.date, high),
        interval=f"every {wording.number(low)}–{wording.number(high)} years",
        why=why,
    )


def _last_evidence(schedule: DxaSchedule) -> Evidence:
    return Evidence(
        "Last DXA",
        schedule.last.source.display or "bone density study",
        schedule.last.date,
        schedule.last.source.reference,
    )


def dxa_monitoring(a: Assessment) -> Recommendation | None:
    if not a.low_bone_mass:
        return None
    schedule = dxa_schedule(a)
    references = ("BHOF2022", "GOURLAY2012", "AACE2020", "SEED1")
    if schedule is None:
        headline = a.classification.headline
        return Recommendation(
            rule_id="R6",
            indicator=Indicator.INFO,
            summary=wording.shorten(f"{headline} with no DXA on record: order a baseline DXA"),
            advice=(
                f"{headline}, but no bone density study (DXA) is on record. A baseline DXA of "
                "the lumbar spine and hip confirms the diagnosis, sets the risk and is the "
                "reference for monitoring.",
            ),
            evidence=a.classification.evidence(),
            references=references,
            orders=(OrderKind.DXA,),
            selection_behavior=SelectionBehavior.ANY,
        )
    th = a.thresholds
    last = wording.day(schedule.last.date)
    general = (
        f"Repeat DXA {schedule.interval_text}: every "
        f"{wording.number(th.dxa_interval_low_risk_min_years)}–"
        f"{wording.number(th.dxa_interval_low_risk_max_years)} years for untreated low-risk "
        f"patients, every {wording.number(th.dxa_interval_high_risk_min_years)}–"
        f"{wording.number(th.dxa_interval_high_risk_max_years)} years on treatment or at higher "
        "risk (BHOF 2022). For untreated women with mild osteopenia the evidence supports longer "
        "intervals (Gourlay 2012)."
    )
    if a.as_of > schedule.overdue_after:
        return Recommendation(
            rule_id="R6",
            indicator=Indicator.WARNING,
            summary=wording.shorten(
                f"DXA overdue: last {last}, repeat was due by "
                f"{wording.day(schedule.overdue_after)} ({schedule.interval})"
            ),
            advice=(
                f"The last DXA was on {last}; the repeat was due by "
                f"{wording.day(schedule.overdue_after)}. Order a DXA of the lumbar spine and hip.",
                general,
            ),
            evidence=(_last_evidence(schedule),),
            references=references,
            orders=(OrderKind.DXA,),
            selection_behavior=SelectionBehavior.ANY,
        )
    if a.as_of >= schedule.due_from:
        return Recommendation(
            rule_id="R6",
            indicator=Indicator.INFO,
            summary=wording.shorten(
                f"DXA due: last {last}, repeat between {wording.day(schedule.due_from)} and "
                f"{wording.day(schedule.overdue_after)} ({schedule.interval})"
            ),
            advice=(
                f"The last DXA was on {last}; a repeat is due between "
                f"{wording.day(schedule.due_from)} and {wording.day(schedule.overdue_after)}.",
                general,
            ),
            evidence=(_last_evidence(schedule),),
            references=references,
            orders=(OrderKind.DXA,),
            selection_behavior=SelectionBehavior.ANY,
        )
    return None
