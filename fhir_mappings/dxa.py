"""DXA T-/Z-scores and bone mineral densities (by site and laterality) and DXA events (the
dates a DXA was done)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from . import codes
from .access import as_dict, as_str, codings, status_code
from .bundle import reference_of
from .context import Context
from .dates import parse_date, period_dates
from .facts import (
    BoneDensityScore,
    BoneMineralDensity,
    DxaEvent,
    DxaSite,
    DxaStudy,
    Laterality,
    Provenance,
    ScoreKind,
)
from .observations import (
    ObsItem,
    display_of,
    has_value,
    observation_date,
    readings,
    value_of,
)

_SCORE_CODES = frozenset(codes.DXA_SCORES)
_EVENT_OBS_CODES = frozenset(
    set(codes.DXA_SCORES)
    | codes.DXA_BMD
    | {code for system, code in codes.DXA_EVENT_CODES if system == codes.LOINC}
)
_LOW, _HIGH = codes.DXA_SCORE_RANGE


def _laterality_from_body_site(resource: dict[str, Any]) -> Laterality:
    site = as_dict(resource.get("bodySite"))
    for _, code, _ in codings(site):
        for token, side in codes.LATERALITY_CODES.items():
            # plain qualifier codes and post-coordinated "71341001:272741003=7771000"
            if code == token or code.endswith(f"={token}"):
                return Laterality(side)
    text = (as_str(site.get("text")) or "").lower().split()
    if "left" in text:
        return Laterality.LEFT
    if "right" in text:
        return Laterality.RIGHT
    return Laterality.UNSPECIFIED


def map_scores(
    items: list[ObsItem], ctx: Context
) -> tuple[list[BoneDensityScore], list[BoneMineralDensity], list[DxaEvent]]:
    """T- and Z-scores, bone mineral densities and the DXA events they date, in one pass over
    the Observations."""
    scores: list[BoneDensityScore] = []
    densities: list[BoneMineralDensity] = []
    events: dict[str, DxaEvent] = {}
    for item in items:
        hits = list(readings(item, _EVENT_OBS_CODES))
        if not hits:
            continue
        when, malformed = observation_date(item.resource)
        when = when or item.fallback_date
        ok, when = ctx.usable_date(when, malformed, item.reference, "DXA result")
        if not ok or when is None:
            continue
        display = display_of(item.resource)
        events.setdefault(item.reference, DxaEvent(when, Provenance(item.reference, when, display)))
        for code, holder in hits:
            if code in _SCORE_CODES:
                score = _score(code, holder, item, when, ctx)
                if score is not None:
                    scores.append(score)
            elif code in codes.DXA_BMD:
                density = _density(code, holder, item, when, ctx)
                if density is not None:
                    densities.append(density)
    densities.sort(key=lambda d: (d.source.date or date.min, d.source.reference))
    return scores, densities, list(events.values())


def _score(
    code: str, holder: dict[str, Any], item: ObsItem, when: date, ctx: Context
) -> BoneDensityScore | None:
    kind, site, side = codes.DXA_SCORES[code]
    if not has_value(holder):
        ctx.notes.add(
            f"DXA {kind}-score ({code}) without a value: DXA done, result unavailable",
            item.reference,
            when,
        )
        return None
    value = value_of(holder)
    if value is None:
        ctx.notes.add(f"DXA {kind}-score ({code}) value is not a number; not used", item.reference)
        return None
    if value.unit.lower() not in codes.DXA_SCORE_UNITS and (
        value.unit_text.lower() not in codes.DXA_SCORE_UNITS
    ):
        ctx.notes.add(
            f"DXA {kind}-score ({code}) in unit {value.unit_text!r}, not a score; not used",
            item.reference,
        )
        return None
    if value.comparator is not None or not _LOW <= value.number <= _HIGH:
        ctx.notes.add(
            f"DXA {kind}-score ({code}) {value.comparator or ''}{value.number} is not a plausible "
            "score; not used",
            item.reference,
        )
        return None
    laterality = Laterality(side)
    if laterality is Laterality.UNSPECIFIED:
        laterality = _laterality_from_body_site(holder)
        if laterality is Laterality.UNSPECIFIED and holder is not item.resource:
            laterality = _laterality_from_body_site(item.resource)
    return BoneDensityScore(
        kind=ScoreKind(kind),
        site=DxaSite(site),
        laterality=laterality,
        value=value.number,
        source=Provenance(item.reference, when, display_of(holder) or display_of(item.resource)),
    )


def _density(
    code: str, holder: dict[str, Any], item: ObsItem, when: date, ctx: Context
) -> BoneMineralDensity | None:
    """A BMD in g/cm²; one in another unit, or not a plain number, is noted and left out (a
    BMD is compared with another only in the same unit)."""
    value = value_of(holder)
    if value is None or value.comparator is not None or value.number <= 0:
        ctx.notes.add(f"DXA BMD ({code}) without a plain value; not used", item.reference)
        return None
    if value.unit.lower() not in codes.DXA_BMD_UNITS and (
        value.unit_text.lower() not in codes.DXA_BMD_UNITS
    ):
        ctx.notes.add(
            f"DXA BMD ({code}) in unit {value.unit_text!r}, not g/cm²; not used", item.reference
        )
        return None
    site, side = codes.DXA_BMD_SITES[code]
    laterality = Laterality(side)
    if laterality is Laterality.UNSPECIFIED:
        laterality = _laterality_from_body_site(holder)
    source = Provenance(item.reference, when, display_of(holder))
    return BoneMineralDensity(DxaSite(site), laterality, value.number, source)


def _has_event_code(concept: Any) -> str | None:
    for system, code, display in codings(concept):
        if (system, code) in codes.DXA_EVENT_CODES:
            return display or code
    return None


def map_procedure_events(ctx: Context) -> list[DxaEvent]:
    """DXA Procedures, completed DXA ServiceRequests and final DXA DiagnosticReports."""
    events: list[DxaEvent] = []
    for resource in ctx.pool.of_type("Procedure"):
        display = _has_event_code(resource.get("code"))
        if display is None:
            continue
        when, malformed = _performed(resource)
        _add_event(events, resource, when, malformed, display, ctx)
    for resource in ctx.pool.of_type("ServiceRequest"):
        if status_code(resource) != "completed":
            continue
        display = _has_event_code(resource.get("code"))
        if display is None:
            continue
        when, malformed = _occurrence(resource)
        _add_event(events, resource, when, malformed, display, ctx)
    for resource in ctx.pool.of_type("DiagnosticReport"):
        concept = resource.get("code")
        display = _has_event_code(concept)
        if display is None and any(
            system == codes.LOINC and code in codes.DXA_REPORT_CODES
            for system, code, _ in codings(concept)
        ):
            display = "DXA report"
        if display is None:
            continue
        when, malformed = observation_date(resource)
        _add_event(events, resource, when, malformed, display, ctx)
    return events


def _add_event(
    events: list[DxaEvent],
    resource: dict[str, Any],
    when: date | None,
    malformed: bool,
    display: str,
    ctx: Context,
) -> None:
    reference = reference_of(resource)
    ok, when = ctx.usable_date(when, malformed, reference, "DXA procedure")
    if ok and when is not None:
        events.append(DxaEvent(when, Provenance(reference, when, display[:200])))


def _performed(resource: dict[str, Any]) -> tuple[date | None, bool]:
    raw = resource.get("performedDateTime")
    if raw is not None:
        parsed = parse_date(raw)
        return parsed, parsed is None
    if "performedPeriod" in resource:
        start, end, malformed = period_dates(resource.get("performedPeriod"))
        return end or start, malformed and not (end or start)
    return None, False


def _occurrence(resource: dict[str, Any]) -> tuple[date | None, bool]:
    raw = resource.get("occurrenceDateTime")
    if raw is not None:
        parsed = parse_date(raw)
        if parsed is not None:
            return parsed, False
    if "occurrencePeriod" in resource:
        start, end, _ = period_dates(resource.get("occurrencePeriod"))
        if end or start:
            return end or start, False
    raw = resource.get("authoredOn")
    parsed = parse_date(raw)
    return parsed, raw is not None and parsed is None


def group_studies(
    scores: list[BoneDensityScore] | tuple[BoneDensityScore, ...], window_days: int = 30
) -> list[DxaStudy]:
    """DXA studies, newest first: each holds the scores within ``window_days`` of its latest date.

    Scores without a date are left out (they cannot be placed in a study).
    """
    dated = sorted(
        (s for s in scores if s.source.date is not None),
        key=lambda s: s.source.date,  # type: ignore[arg-type, return-value]
        reverse=True,
    )
    studies: list[DxaStudy] = []
    window = timedelta(days=window_days)
    current: list[BoneDensityScore] = []
    latest: date | None = None
    for score in dated:
        when = score.source.date
        assert when is not None
        if latest is not None and latest - when > window:
            studies.append(DxaStudy(latest, tuple(current)))
            current = []
            latest = None
        if latest is None:
            latest = when
        current.append(score)
    if latest is not None:
        studies.append(DxaStudy(latest, tuple(current)))
    return studies


def latest_event(events: list[DxaEvent]) -> DxaEvent | None:
    return max(events, key=lambda e: e.date, default=None)


__all__ = ["group_studies", "latest_event", "map_procedure_events", "map_scores"]
