"""Therapy exposure: which drugs are current, and for how long they were taken.

A period without an end runs to the evaluation date. Zoledronic acid and denosumab are
recorded as single infusions or injections, so each dose covers its dosing interval: a
yearly infusion given three months ago still means "on therapy".
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

from fhir_mappings.facts import DrugClass, PatientFacts, TherapyEpisode, TherapyPeriod

from .thresholds import Thresholds

OSTEOPOROSIS_THERAPY = frozenset(
    {
        DrugClass.ORAL_BISPHOSPHONATE,
        DrugClass.IV_BISPHOSPHONATE,
        DrugClass.DENOSUMAB,
        DrugClass.ANABOLIC,
        DrugClass.RALOXIFENE,
    }
)
BISPHOSPHONATES = frozenset({DrugClass.ORAL_BISPHOSPHONATE, DrugClass.IV_BISPHOSPHONATE})

Span = tuple[date, date]


def _dose_cover_days(drug_class: DrugClass, thresholds: Thresholds) -> int:
    if drug_class is DrugClass.IV_BISPHOSPHONATE:
        return thresholds.zoledronic_acid_dose_interval_days
    if drug_class is DrugClass.DENOSUMAB:
        return thresholds.denosumab_dose_interval_days
    return 0


def span(
    period: TherapyPeriod, drug_class: DrugClass, as_of: date, thresholds: Thresholds
) -> Span | None:
    """Days the period covers (inclusive), not clamped; None when it starts after ``as_of``.

    An injection or infusion covers its dosing interval: the next dose is due on the day the
    cover ends, so that day still counts as on therapy.
    """
    if period.start > as_of:
        return None
    end = period.end if period.end is not None else as_of
    end = max(end, period.start + timedelta(days=_dose_cover_days(drug_class, thresholds)))
    return period.start, end


def episode_spans(episode: TherapyEpisode, as_of: date, thresholds: Thresholds) -> list[Span]:
    spans = (span(p, episode.drug_class, as_of, thresholds) for p in episode.periods)
    return [s for s in spans if s is not None]


def is_current(episode: TherapyEpisode, as_of: date, thresholds: Thresholds) -> bool:
    return any(start <= as_of <= end for start, end in episode_spans(episode, as_of, thresholds))


def merge(spans: Iterable[Span], bridge_days: int = 0) -> list[Span]:
    """Union of spans; a gap of fewer than ``bridge_days`` days without therapy is filled."""
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged:
            last_start, last_end = merged[-1]
            gap = (start - last_end).days - 1
            if gap < max(bridge_days, 0) or start <= last_end + timedelta(days=1):
                merged[-1] = (last_start, max(last_end, end))
                continue
        merged.append((start, end))
    return merged


def exposure_days(spans: Iterable[Span], as_of: date, bridge_days: int = 0) -> int:
    """Days of therapy up to ``as_of`` (inclusive), counting bridged gaps as therapy."""
    clamped = [(s, min(e, as_of)) for s, e in spans if s <= as_of]
    return sum((e - s).days + 1 for s, e in merge(clamped, bridge_days))


def episodes(facts: PatientFacts, classes: Iterable[DrugClass]) -> list[TherapyEpisode]:
    wanted = frozenset(classes)
    return [e for e in facts.therapies if e.drug_class in wanted]


def current_episodes(
    facts: PatientFacts, classes: Iterable[DrugClass], as_of: date, thresholds: Thresholds
) -> list[TherapyEpisode]:
    return [e for e in episodes(facts, classes) if is_current(e, as_of, thresholds)]


def last_period(episode: TherapyEpisode) -> TherapyPeriod:
    return max(episode.periods, key=lambda p: (p.end or p.start, p.start))
