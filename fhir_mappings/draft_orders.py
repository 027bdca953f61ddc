"""Draft orders of an order hook (``context.draftOrders``) → facts about what is being ordered.

A draft is read with the same classification as the patient's record (``match_medication``
for drugs, the DXA code set for ServiceRequests), so an order check and a patient-view rule
never disagree about what a drug is. A draft that cannot be read (no code the service knows,
a malformed field) becomes an ``UnreadDraft`` with the reason: the order checks stay silent
about it and the service names it in its log; it is never an error.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from typing import Any

from . import codes
from .access import as_dict, as_list, as_number, codings, concept_display, status_code
from .bundle import build_draft_pool
from .context import Context
from .dates import parse_date, period_dates
from .facts import DrugClass, GlucocorticoidDose, MatchedBy
from .glucocorticoid_dose import read_dose
from .medications import duration_days, match_medication, product_texts
from .notes import Notes


@dataclass(frozen=True, slots=True)
class DraftOrder:
    """One draft the clinician is about to order, as the order checks see it."""

    reference: str  # "MedicationRequest/abc": what a delete suggestion names
    resource_type: str
    display: str
    authored: date | None  # authoredOn; the evaluation date stands in when absent
    drug_class: DrugClass | None = None
    ingredient: str | None = None
    matched_by: MatchedBy | None = None
    is_dxa: bool = False
    is_kidney_labs: bool = False  # a creatinine / eGFR / basic metabolic panel order
    # How long the order is meant to run (timing bounds, else supply × fills); None: unknown
    planned_days: float | None = None
    dose: GlucocorticoidDose | None = None  # glucocorticoids: the daily dose, as for the record


@dataclass(frozen=True, slots=True)
class UnreadDraft:
    reference: str
    reason: str


@dataclass(frozen=True, slots=True)
class DraftOrders:
    orders: tuple[DraftOrder, ...]
    unread: tuple[UnreadDraft, ...]


def _reference(resource: dict[str, Any]) -> str:
    return f"{resource.get('resourceType')}/{resource.get('id')}"


def planned_days(resource: dict[str, Any]) -> float | None:
    """The course the order describes: its timing bounds, else expected supply × fills."""
    for dosage in as_list(resource.get("dosageInstruction")):
        repeat = as_dict(as_dict(as_dict(dosage).get("timing")).get("repeat"))
        if "boundsDuration" in repeat:
            days = duration_days(repeat.get("boundsDuration"))
            if days is not None:
                return days
        start, end, malformed = period_dates(repeat.get("boundsPeriod"))
        if start is not None and end is not None and not malformed and end >= start:
            return float((end - start).days + 1)
    dispense = as_dict(resource.get("dispenseRequest"))
    days = duration_days(dispense.get("expectedSupplyDuration"))
    if days is None:
        return None
    repeats = as_number(dispense.get("numberOfRepeatsAllowed"))
    fills = int(repeats) + 1 if repeats is not None and 0 <= repeats <= 100 else 1
    return days * fills


# Kidney function orders: the eGFR and creatinine codes the kidney mapping reads, and the basic
# metabolic panel (LOINC 51990-0) of the service's own kidney lab draft.
_KIDNEY_LAB_CODES = codes.EGFR | codes.CREATININE | {"51990-0"}


def _is_kidney_labs(resource: dict[str, Any]) -> bool:
    return any(
        system == codes.LOINC and code in _KIDNEY_LAB_CODES
        for system, code, _ in codings(resource.get("code"))
    )


def _dxa_display(resource: dict[str, Any]) -> str | None:
    for system, code, display in codings(resource.get("code")):
        if (system, code) in codes.DXA_EVENT_CODES:
            return display or code
    return None


def _read(resource: dict[str, Any], ctx: Context) -> DraftOrder | UnreadDraft:
    reference = _reference(resource)
    rtype = resource["resourceType"]
    authored = parse_date(resource.get("authoredOn"))
    if rtype == "MedicationRequest":
        if resource.get("doNotPerform") is True:
            return UnreadDraft(reference, "a do-not-perform order")
        match = match_medication(resource, ctx)
        if match is None:
            return UnreadDraft(reference, "no medication code or name the checks know")
        dose = None
        if match.drug_class is DrugClass.GLUCOCORTICOID:
            dose = read_dose(resource, match.ingredient, product_texts(resource, ctx))
            if not dose.readable:
                return UnreadDraft(reference, f"glucocorticoid dose not readable ({dose.how})")
        return DraftOrder(
            reference=reference,
            resource_type=rtype,
            # the order's own name; the matcher's text joins every name it read
            display=concept_display(resource.get("medicationCodeableConcept"))
            or match.display
            or match.ingredient,
            authored=authored,
            drug_class=match.drug_class,
            ingredient=match.ingredient,
            matched_by=match.matched_by,
            planned_days=planned_days(resource),
            dose=dose,
        )
    if rtype == "ServiceRequest":
        name = concept_display(resource.get("code"))
        if _is_kidney_labs(resource):
            return DraftOrder(
                reference, rtype, name or "kidney labs", authored, is_kidney_labs=True
            )
        display = _dxa_display(resource)
        if display is None:
            return UnreadDraft(reference, "not a service the checks know")
        return DraftOrder(reference, rtype, name or display, authored, is_dxa=True)
    return UnreadDraft(reference, f"{rtype} is not checked")


def map_draft_orders(
    bundle: Any, *, patient_id: str, as_of: date, only: Collection[str] | None = None
) -> DraftOrders:
    """The drafts of ``bundle`` (all, or those named in ``only``), read as facts.

    Entries that are not drafts (order-sign also fires when a signed order is revised) are
    left out: they are already part of the record the patient's facts come from.
    """
    notes = Notes()
    pool = build_draft_pool(bundle, patient_id, notes)
    ctx = Context(pool=pool, as_of=as_of, notes=notes)
    orders: list[DraftOrder] = []
    unread: list[UnreadDraft] = []
    wanted = set(only) if only is not None else None
    for rtype in sorted(pool.by_type):
        for resource in pool.of_type(rtype):
            reference = _reference(resource)
            if wanted is not None and reference not in wanted:
                continue
            if status_code(resource) != "draft":
                continue
            try:
                item = _read(resource, ctx)
            except (AttributeError, KeyError, TypeError, ValueError, IndexError) as exc:
                item = UnreadDraft(reference, f"unreadable ({type(exc).__name__})")
            (orders if isinstance(item, DraftOrder) else unread).append(item)
    return DraftOrders(tuple(orders), tuple(unread))


__all__ = ["DraftOrder", "DraftOrders", "UnreadDraft", "map_draft_orders", "planned_days"]
