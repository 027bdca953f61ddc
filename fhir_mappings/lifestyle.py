"""Smoking status (most recent 72166-2 / 11367-0), alcohol drinks per day, AUDIT-C."""

from __future__ import annotations

from datetime import date

from . import codes
from .access import codings
from .context import Context
from .facts import AlcoholFact, AuditCScore, Provenance, SmokingFact, SmokingStatus
from .observations import ObsItem, display_of, observation_date, readings, value_of

_SMOKING = frozenset(codes.SMOKING_CODES)
_ALCOHOL = frozenset(codes.ALCOHOL_CODES)
_AUDIT_C = frozenset(codes.AUDIT_C_CODES)
# On the same day, the report that says more about risk wins.
_TIE_ORDER = {
    SmokingStatus.CURRENT: 3,
    SmokingStatus.FORMER: 2,
    SmokingStatus.NEVER: 1,
    SmokingStatus.UNKNOWN: 0,
}


def _dated(item: ObsItem, ctx: Context, what: str) -> date | None:
    when, malformed = observation_date(item.resource)
    ok, when = ctx.usable_date(when or item.fallback_date, malformed, item.reference, what)
    return when if ok else None


def map_smoking(items: list[ObsItem], ctx: Context) -> SmokingFact | None:
    best: tuple[date, int, SmokingFact] | None = None
    for item in items:
        for _, holder in readings(item, _SMOKING):
            if holder is not item.resource:
                continue
            when = _dated(item, ctx, "Smoking status")
            if when is None:
                break
            status = SmokingStatus.UNKNOWN
            answer_display = None
            for system, code, display in codings(holder.get("valueCodeableConcept")):
                if system == codes.SNOMED and code in codes.SMOKING_ANSWERS:
                    status = SmokingStatus(codes.SMOKING_ANSWERS[code])
                    answer_display = display
                    break
            fact = SmokingFact(
                status, Provenance(item.reference, when, answer_display or display_of(holder))
            )
            rank = (when, _TIE_ORDER[status])
            if best is None or rank > best[:2]:
                best = (when, _TIE_ORDER[status], fact)
    return best[2] if best else None


def map_alcohol(items: list[ObsItem], ctx: Context) -> AlcoholFact | None:
    best: AlcoholFact | None = None
    for item in items:
        for code, holder in readings(item, _ALCOHOL):
            when = _dated(item, ctx, "Alcohol intake")
            if when is None:
                break
            value = value_of(holder)
            if value is None or value.number < 0:
                ctx.notes.add(f"Alcohol intake ({code}) without a usable value", item.reference)
                continue
            factor = codes.ALCOHOL_UNITS_PER_DAY.get(value.unit.lower())
            if factor is None:
                factor = codes.ALCOHOL_UNITS_PER_DAY.get(value.unit_text.lower())
            if factor is None:
                ctx.notes.add(
                    f"Alcohol intake in unit {value.unit_text!r}; not used", item.reference
                )
                continue
            fact = AlcoholFact(
                value.number * factor, Provenance(item.reference, when, display_of(holder))
            )
            if best is None or (best.source.date or date.min) < when:
                best = fact
    return best


def map_audit_c(items: list[ObsItem], ctx: Context) -> AuditCScore | None:
    best: AuditCScore | None = None
    for item in items:
        for code, holder in readings(item, _AUDIT_C):
            when = _dated(item, ctx, "AUDIT-C score")
            if when is None:
                break
            value = value_of(holder)
            if value is None or not 0 <= value.number <= 12:
                ctx.notes.add(f"AUDIT-C ({code}) without a score of 0-12", item.reference)
                continue
            fact = AuditCScore(value.number, Provenance(item.reference, when, display_of(holder)))
            if best is None or (best.source.date or date.min) < when:
                best = fact
    return best
