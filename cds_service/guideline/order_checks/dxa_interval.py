"""O5: a DXA drafted earlier than the monitoring interval of R6 allows."""

from __future__ import annotations

from fhir_mappings.draft_orders import DraftOrder

from .. import wording
from ..monitoring import dxa_schedule
from ..recommendation import Evidence, Indicator, Recommendation
from .session import OrderSession, draft_evidence, remove


def dxa_too_early(session: OrderSession, draft: DraftOrder) -> Recommendation | None:
    a = session.a
    if not draft.is_dxa or not a.eligibility.adult_rules:
        return None
    schedule = dxa_schedule(a)
    if schedule is None or a.as_of >= schedule.due_from:
        return None
    last = schedule.last
    # Medicare pays for a repeat DXA about once in 23 months, glucocorticoids and treatment
    # monitoring apart (R6, clinical-spec §0.3).
    floor = (
        ""
        if schedule.exception
        else f", and not before {a.thresholds.dxa_min_interval_months} months after the last"
    )
    return Recommendation(
        rule_id="O5",
        indicator=Indicator.INFO,
        summary=wording.shorten(
            f"DXA drafted early: last {wording.day(last.date)}, repeat due from "
            f"{wording.day(schedule.due_from)} ({schedule.interval})"
        ),
        advice=(
            f"The last DXA was on {wording.day(last.date)}. For this patient "
            f"({schedule.band}) a repeat is due from {wording.day(schedule.due_from)}: "
            f"{schedule.interval}{floor}. An earlier "
            "scan rarely changes management: the change in density between scans is usually "
            "smaller than the precision of the measurement {{GOURLAY2012}}.",
            "If a new fracture or a new secondary cause of bone loss is the reason, keep the "
            "order and record why.",
        ),
        evidence=(
            draft_evidence(draft),
            Evidence(
                "Last DXA",
                last.source.display or "bone density study",
                last.date,
                last.source.reference,
            ),
        ),
        references=("BHOF2022", "GOURLAY2012"),
        removals=(remove(draft),),
    )
