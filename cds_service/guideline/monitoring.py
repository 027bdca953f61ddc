"""R6: DXA monitoring interval by T-score band (Gourlay 2012; BHOF 2022; Medicare's 23 months).

Bands on the lowest T-score of the latest study, half-open so that every value falls in one:
T above −1.50 (mild): 5 years; −2.00 < T ≤ −1.50 (moderate): 2–3 years; T ≤ −2.00, any R4
criterion, or on treatment: about every 2 years. On glucocorticoids, or for the first scan
after a treatment start: 1 year. Apart from those two, no repeat is suggested earlier than
23 months after the last DXA. "Due" and "overdue" are both info: a late scan is not a safety
warning.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, timedelta

from fhir_mappings.facts import DrugClass, DxaEvent

from . import wording
from .assessment import Assessment
from .classification import BoneStatus
from .dates import add_months, add_years
from .recommendation import (
    Evidence,
    Indicator,
    OrderKind,
    Reason,
    Recommendation,
    SelectionBehavior,
)
from .therapy import current_episodes
from .treatment import treatment_criteria, very_high_risk_criteria

SNOMED = "http://snomed.info/sct"
# SNOMED CT codes of the CMS249 value sets (codes.csv: V)
DXA_REASONS = {
    BoneStatus.OSTEOPENIA: Reason("Osteopenia", SNOMED, "312894000", "Osteopenia (disorder)"),
    BoneStatus.OSTEOPOROSIS: Reason("Osteoporosis", SNOMED, "64859006", "Osteoporosis"),
}


@dataclass(frozen=True, slots=True)
class DxaSchedule:
    last: DxaEvent
    band: str  # "T −1.8: moderate osteopenia"
    interval: str  # "every 2–3 years"
    due_from: date
    overdue_after: date
    exception: bool  # glucocorticoids or treatment monitoring: the 23-month floor does not apply

    @property
    def interval_text(self) -> str:
        return f"{self.interval}, {self.band}"


def dxa_reason(a: Assessment) -> Reason | None:
    """The diagnosis the DXA answers: its code, and the Condition itself when one is recorded."""
    reason = DXA_REASONS.get(a.classification.status)
    diagnosis = a.classification.diagnosis
    if reason is not None and diagnosis is not None:
        reason = dataclasses.replace(reason, condition=diagnosis.source.reference)
    return reason


def _treatment_start(a: Assessment) -> date | None:
    starts = [p.start for e in a.current_osteoporosis_therapy for p in e.periods]
    return min(starts) if starts else None


def dxa_schedule(a: Assessment) -> DxaSchedule | None:
    """When the next DXA falls due, and why; None without a DXA on record."""
    last = a.last_dxa
    if last is None:
        return None
    th, score = a.thresholds, a.classification.score
    t_text = f"T {wording.score(score.value, a.classification.t_class)}" if score else "T unknown"
    started = _treatment_start(a)
    if current_episodes(a.facts, {DrugClass.GLUCOCORTICOID}, a.as_of, th):
        years, high, band = th.dxa_interval_monitoring_years, None, "on glucocorticoids"
        exception, start_from = True, last.date
    elif started is not None and started >= last.date - timedelta(days=th.dxa_study_window_days):
        # no scan since the treatment started: the first one shows whether it works
        years, high = th.dxa_interval_monitoring_years, None
        band = f"treatment started {wording.day(started)}"
        exception, start_from = True, max(started, last.date)
    else:
        exception, start_from = False, last.date
        higher = (
            a.on_osteoporosis_therapy
            or bool(treatment_criteria(a))
            or bool(very_high_risk_criteria(a))
        )
        if higher or (score is not None and score.value <= th.dxa_higher_risk_t_score_max):
            why = (
                "on treatment"
                if a.on_osteoporosis_therapy
                else ("treatment criteria met" if higher else "advanced osteopenia")
            )
            years, high, band = th.dxa_interval_high_risk_years, None, f"{t_text}, {why}"
        elif score is not None and score.value > th.dxa_band_mild_t_score_above:
            years, high, band = th.dxa_interval_mild_years, None, f"{t_text}, mild"
        else:
            years = th.dxa_interval_moderate_min_years
            high, band = th.dxa_interval_moderate_max_years, f"{t_text}, moderate"
    due_from = add_years(start_from, years)
    if not exception:
        due_from = max(due_from, add_months(last.date, th.dxa_min_interval_months))
    if high is not None:
        overdue_after = add_years(start_from, high)
        interval = f"every {wording.number(years)}–{wording.number(high)} years"
    else:
        overdue_after = add_years(due_from, th.dxa_overdue_grace_years)
        interval = f"every {wording.number(years)} year" + ("s" if years != 1 else "")
        if band.startswith("treatment started"):
            interval = f"{wording.number(years)} year after the treatment start"
    return DxaSchedule(last, band, interval, due_from, overdue_after, exception)


def _last_evidence(schedule: DxaSchedule) -> Evidence:
    return Evidence(
        "Last DXA",
        schedule.last.source.display or "bone density study",
        schedule.last.date,
        schedule.last.source.reference,
    )


def _bands_text(a: Assessment) -> str:
    th = a.thresholds
    return (
        f"Intervals by the lowest T-score, untreated: above "
        f"{wording.number(th.dxa_band_mild_t_score_above)} every "
        f"{wording.number(th.dxa_interval_mild_years)} years, as about 15 years pass before 10 % "
        f"of such women reach osteoporosis; down to above "
        f"{wording.number(th.dxa_higher_risk_t_score_max)} every "
        f"{wording.number(th.dxa_interval_moderate_min_years)}–"
        f"{wording.number(th.dxa_interval_moderate_max_years)} years; lower, with a treatment "
        f"criterion, or on treatment about every {wording.number(th.dxa_interval_high_risk_years)}"
        " years {{GOURLAY2012}} {{BHOF2022}}. Medicare pays about once per "
        f"{th.dxa_min_interval_months} months except on glucocorticoids and to monitor a new "
        "treatment."
    )


def _order_card(a: Assessment, summary: str, advice: tuple[str, ...], evidence) -> Recommendation:
    return Recommendation(
        rule_id="R6",
        indicator=Indicator.INFO,
        summary=wording.shorten(summary),
        advice=advice,
        evidence=tuple(evidence),
        references=("GOURLAY2012", "BHOF2022"),
        orders=(OrderKind.DXA,),
        selection_behavior=SelectionBehavior.ANY,
        reason=dxa_reason(a),
    )


def dxa_monitoring(a: Assessment) -> Recommendation | None:
    if not a.low_bone_mass:
        return None
    schedule = dxa_schedule(a)
    headline = a.classification.headline
    if schedule is None:
        if a.classification.fragility_fractures and not a.on_osteoporosis_therapy:
            # treatment after a fragility fracture does not wait for a scan (R4 speaks)
            return _order_card(
                a,
                f"{headline}: baseline DXA for monitoring; treatment need not wait for it",
                (
                    "No bone density study (DXA) is on record. After a fragility fracture, "
                    "treatment starts without one; a baseline DXA of the lumbar spine and hip "
                    "is the reference for monitoring it {{BHOF2022}}.",
                ),
                a.classification.evidence(),
            )
        return _order_card(
            a,
            f"{headline} with no DXA on record: order a baseline DXA",
            (
                f"{headline}, but no bone density study (DXA) is on record. A baseline DXA of "
                "the lumbar spine and hip confirms the diagnosis, sets the risk and is the "
                "reference for monitoring {{BHOF2022}}.",
            ),
            a.classification.evidence(),
        )
    if a.as_of < schedule.due_from:
        return None
    last = wording.day(schedule.last.date)
    late = a.as_of > schedule.overdue_after
    state = "overdue" if late else "due"
    summary = (
        f"DXA {state}: last {last}, repeat due from {wording.day(schedule.due_from)}, "
        f"{schedule.interval}"
    )
    return _order_card(
        a,
        summary,
        (
            f"The last DXA was on {last}. Repeat {schedule.interval}, {schedule.band}: due "
            f"from {wording.day(schedule.due_from)}"
            + (f", overdue since {wording.day(schedule.overdue_after)}." if late else ".")
            + " Order a DXA of the lumbar spine and hip.",
            _bands_text(a),
        ),
        (_last_evidence(schedule),),
    )
