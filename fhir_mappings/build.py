"""``build_facts``: FHIR R4 JSON as an EHR sends it → PatientFacts. Never raises on bad data."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any, TypeVar

from . import (
    conditions,
    dxa,
    fractures,
    frax,
    labs,
    lifestyle,
    medications,
    observations,
    patient,
    vitamin_d,
)
from .bundle import build_pool
from .context import Context
from .facts import PatientFacts
from .notes import Notes

T = TypeVar("T")


def _guarded(ctx: Context, what: str, default: T, step: Callable[[], T]) -> T:
    """Run one mapper; a defect triggered by unforeseen data loses that fact family, not all."""
    try:
        return step()
    except (AttributeError, KeyError, TypeError, ValueError, IndexError, OverflowError) as exc:
        ctx.notes.add(f"{what} could not be read ({type(exc).__name__}); left out")
        return default


def build_facts(prefetch: Mapping[str, Any], *, patient_id: str, as_of: date) -> PatientFacts:
    """Map every resource of a prefetch (Bundles, pages, single resources, None) to facts.

    Facts dated after ``as_of`` are left out; lists are in chronological order.
    """
    if isinstance(as_of, datetime):
        as_of = as_of.date()  # facts are compared by calendar day
    notes = Notes()
    pool = build_pool(prefetch, patient_id, notes)
    ctx = Context(pool=pool, as_of=as_of, notes=notes)
    facts = PatientFacts(patient_reference=f"Patient/{patient_id}")

    facts.birth_date, facts.sex = _guarded(
        ctx, "Patient", (None, facts.sex), lambda: patient.map_patient(ctx)
    )
    ctx.birth_date = facts.birth_date
    facts.deceased = _guarded(ctx, "Patient", False, lambda: patient.map_deceased(ctx))

    items = _guarded(ctx, "Observations", [], lambda: observations.collect(pool))
    scores, densities, events = _guarded(
        ctx, "DXA results", ([], [], []), lambda: dxa.map_scores(items, ctx)
    )
    events += _guarded(ctx, "DXA procedures", [], lambda: dxa.map_procedure_events(ctx))
    facts.bone_density_scores = sorted(scores, key=lambda s: s.source.date or date.min)
    facts.bone_mineral_density = densities
    facts.dxa_events = sorted(events, key=lambda e: e.date)
    facts.frax = sorted(
        _guarded(ctx, "FRAX", [], lambda: frax.map_frax(items, ctx)),
        key=lambda f: f.source.date or date.min,
    )
    facts.risk_tools = sorted(
        _guarded(ctx, "Risk tools", [], lambda: frax.map_risk_tools(items, ctx)),
        key=lambda r: r.source.date or date.min,
    )
    facts.vitamin_d = sorted(
        _guarded(ctx, "Vitamin D", [], lambda: vitamin_d.map_vitamin_d(items, ctx)),
        key=lambda v: v.source.date or date.min,
    )
    facts.smoking = _guarded(ctx, "Smoking status", None, lambda: lifestyle.map_smoking(items, ctx))
    facts.alcohol = _guarded(ctx, "Alcohol intake", None, lambda: lifestyle.map_alcohol(items, ctx))
    facts.audit_c = _guarded(ctx, "AUDIT-C", None, lambda: lifestyle.map_audit_c(items, ctx))

    diagnoses, records = _guarded(
        ctx, "Conditions", ([], []), lambda: conditions.map_conditions(ctx)
    )
    facts.diagnoses = sorted(diagnoses, key=lambda d: d.source.date or date.min)
    facts.fractures = sorted(
        _guarded(ctx, "Fractures", [], lambda: fractures.merge(records)),
        key=lambda f: f.onset or date.min,
    )
    facts.therapies = _guarded(ctx, "Medications", [], lambda: medications.map_medications(ctx))
    facts.kidney, unreadable_kidney = _guarded(
        ctx, "Kidney function", ([], []), lambda: labs.map_kidney(items, ctx, facts.sex)
    )
    facts.calcium, unreadable_calcium = _guarded(
        ctx, "Calcium", ([], []), lambda: labs.map_calcium(items, ctx)
    )
    facts.body_mass_index, unreadable_bmi = _guarded(
        ctx, "Body mass index", (None, []), lambda: labs.map_body_mass_index(items, ctx)
    )
    facts.unreadable = [*unreadable_kidney, *unreadable_calcium, *unreadable_bmi]

    if ctx.after_as_of:
        notes.add(f"{ctx.after_as_of} facts dated after the evaluation date {as_of} left out")
    facts.notes = notes.result()
    return facts
