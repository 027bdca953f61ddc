"""Derived facts every rule needs, computed once per patient and evaluation date."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from fhir_mappings.facts import (
    DxaEvent,
    FraxKind,
    FraxRisk,
    PatientFacts,
    Provenance,
    TherapyEpisode,
    VitaminDLevel,
)

from .classification import Classification, classify_bone_density, known
from .dates import add_years
from .eligibility import Eligibility, assess_eligibility
from .therapy import OSTEOPOROSIS_THERAPY, current_episodes
from .thresholds import Thresholds


@dataclass(frozen=True, slots=True)
class Assessment:
    facts: PatientFacts
    as_of: date
    thresholds: Thresholds
    eligibility: Eligibility
    classification: Classification
    current_osteoporosis_therapy: tuple[TherapyEpisode, ...]
    recent_frax: dict[FraxKind, FraxRisk]
    last_dxa: DxaEvent | None
    latest_vitamin_d: VitaminDLevel | None  # the latest result within the recency window

    @property
    def on_osteoporosis_therapy(self) -> bool:
        return bool(self.current_osteoporosis_therapy)

    @property
    def low_bone_mass(self) -> bool:
        return self.eligibility.adult_rules and self.classification.low_bone_mass


def _recent_frax(facts: PatientFacts, as_of: date, th: Thresholds) -> dict[FraxKind, FraxRisk]:
    since = add_years(as_of, -th.frax_recency_years)
    latest: dict[FraxKind, FraxRisk] = {}
    for risk in facts.frax:
        on = risk.source.date
        if on is None or not since <= on <= as_of:
            continue  # an undated FRAX cannot be shown to be recent
        held = latest.get(risk.kind)
        if held is None or (held.source.date or date.min) < on:
            latest[risk.kind] = risk
    return latest


def _last_dxa(facts: PatientFacts, as_of: date) -> DxaEvent | None:
    events = [e for e in facts.dxa_events if e.date <= as_of]
    events += [
        DxaEvent(s.source.date, s.source)
        for s in facts.bone_density_scores
        if s.source.date is not None and s.source.date <= as_of
    ]
    return max(events, key=lambda e: e.date) if events else None


def _latest_vitamin_d(facts: PatientFacts, as_of: date, th: Thresholds) -> VitaminDLevel | None:
    dated = [
        v
        for v in facts.vitamin_d
        if v.source.date is not None
        and v.source.date <= as_of
        and (as_of - v.source.date).days <= th.vitamin_d_recency_days
    ]
    return max(dated, key=lambda v: v.source.date or date.min) if dated else None


def assess(facts: PatientFacts, as_of: date, thresholds: Thresholds) -> Assessment:
    eligibility = assess_eligibility(facts, as_of, thresholds)
    return Assessment(
        facts=facts,
        as_of=as_of,
        thresholds=thresholds,
        eligibility=eligibility,
        classification=classify_bone_density(facts, as_of, thresholds, eligibility),
        current_osteoporosis_therapy=tuple(
            current_episodes(facts, OSTEOPOROSIS_THERAPY, as_of, thresholds)
        ),
        recent_frax=_recent_frax(facts, as_of, thresholds),
        last_dxa=_last_dxa(facts, as_of),
        latest_vitamin_d=_latest_vitamin_d(facts, as_of, thresholds),
    )


def provenance_known(source: Provenance, as_of: date) -> bool:
    return known(source.date, as_of)
