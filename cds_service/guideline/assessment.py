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
    recent_frax: dict[FraxKind, FraxRisk]  # within the recency window
    # the recent FRAX that still describes the patient: computed after the latest fragility
    # fracture and off osteoporosis therapy (clinical-spec §0.3); R4 decides on these
    decisive_frax: dict[FraxKind, FraxRisk]
    latest_frax: dict[FraxKind, FraxRisk]  # whatever its age, for R5 to show
    last_dxa: DxaEvent | None
    latest_vitamin_d: VitaminDLevel | None  # the latest result within the recency window

    @property
    def on_osteoporosis_therapy(self) -> bool:
        return bool(self.current_osteoporosis_therapy)

    @property
    def low_bone_mass(self) -> bool:
        return self.eligibility.adult_rules and self.classification.low_bone_mass


def _recent_frax(facts: PatientFacts, as_of: date, th: Thresholds) -> dict[FraxKind, FraxRisk]:
    return _latest_frax(facts, as_of, add_years(as_of, -th.frax_recency_years))


def _latest_frax(facts: PatientFacts, as_of: date, since: date) -> dict[FraxKind, FraxRisk]:
    latest: dict[FraxKind, FraxRisk] = {}
    for risk in facts.frax:
        on = risk.source.date
        if on is None or not since <= on <= as_of:
            continue  # an undated FRAX cannot be shown to be recent
        held = latest.get(risk.kind)
        if held is None or (held.source.date or date.min) < on:
            latest[risk.kind] = risk
    return latest


def _decisive_frax(
    facts: PatientFacts,
    recent: dict[FraxKind, FraxRisk],
    classification: Classification,
    th: Thresholds,
) -> dict[FraxKind, FraxRisk]:
    fractured = [f.onset or f.source.date for f in classification.fragility_fractures]
    last_fracture = max((d for d in fractured if d is not None), default=None)
    kept: dict[FraxKind, FraxRisk] = {}
    for kind, risk in recent.items():
        on = risk.source.date
        if on is None or (last_fracture is not None and on < last_fracture):
            continue
        if current_episodes(facts, OSTEOPOROSIS_THERAPY, on, th):
            continue  # FRAX is calibrated for untreated patients
        kept[kind] = risk
    return kept


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
    classification = classify_bone_density(facts, as_of, thresholds, eligibility)
    recent_frax = _recent_frax(facts, as_of, thresholds)
    return Assessment(
        facts=facts,
        as_of=as_of,
        thresholds=thresholds,
        eligibility=eligibility,
        classification=classification,
        current_osteoporosis_therapy=tuple(
            current_episodes(facts, OSTEOPOROSIS_THERAPY, as_of, thresholds)
        ),
        recent_frax=recent_frax,
        decisive_frax=_decisive_frax(facts, recent_frax, classification, thresholds),
        latest_frax=_latest_frax(facts, as_of, date.min),
        last_dxa=_last_dxa(facts, as_of),
        latest_vitamin_d=_latest_vitamin_d(facts, as_of, thresholds),
    )


def provenance_known(source: Provenance, as_of: date) -> bool:
    return known(source.date, as_of)
