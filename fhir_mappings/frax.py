"""FRAX 10-year probabilities (LOINC 90265-0 major osteoporotic, 90266-8 hip) in percent, and
the scores of other fracture-risk screening tools (OST, LOINC 98146-4)."""

from __future__ import annotations

from . import codes
from .context import Context
from .facts import FraxKind, FraxRisk, Provenance, RiskToolScore
from .observations import ObsItem, display_of, observation_date, readings, value_of

_CODES = frozenset(codes.FRAX)


def map_frax(items: list[ObsItem], ctx: Context) -> list[FraxRisk]:
    risks: list[FraxRisk] = []
    for item in items:
        for code, holder in readings(item, _CODES):
            when, malformed = observation_date(item.resource)
            ok, when = ctx.usable_date(
                when or item.fallback_date, malformed, item.reference, "FRAX result"
            )
            if not ok:
                break
            value = value_of(holder)
            if value is None:
                ctx.notes.add(f"FRAX ({code}) without a numeric value; not used", item.reference)
                continue
            unit = value.unit.lower()
            if unit in codes.FRAX_PERCENT_UNITS or value.unit_text.lower() in (
                codes.FRAX_PERCENT_UNITS
            ):
                percent = value.number
            elif unit in codes.FRAX_FRACTION_UNITS:
                # A probability sent as a fraction (0.084): no one reports a 1 % risk as "1".
                percent = value.number * 100 if value.number <= 1 else value.number
            else:
                ctx.notes.add(
                    f"FRAX ({code}) in unknown unit {value.unit_text!r}; not used", item.reference
                )
                continue
            if not 0 <= percent <= 100:
                ctx.notes.add(f"FRAX ({code}) {percent} % out of range; not used", item.reference)
                continue
            risks.append(
                FraxRisk(
                    kind=FraxKind(codes.FRAX[code]),
                    percent=percent,
                    source=Provenance(item.reference, when, display_of(holder)),
                )
            )
    return risks


def map_risk_tools(items: list[ObsItem], ctx: Context) -> list[RiskToolScore]:
    scores: list[RiskToolScore] = []
    for item in items:
        for code, holder in readings(item, frozenset(codes.RISK_TOOLS)):
            when, malformed = observation_date(item.resource)
            ok, when = ctx.usable_date(
                when or item.fallback_date, malformed, item.reference, "risk tool score"
            )
            if not ok:
                break
            value = value_of(holder)
            if value is None:
                ctx.notes.add(f"Risk tool ({code}) without a value; not used", item.reference)
                continue
            scores.append(
                RiskToolScore(
                    codes.RISK_TOOLS[code],
                    value.number,
                    Provenance(item.reference, when, display_of(holder)),
                )
            )
    return scores
