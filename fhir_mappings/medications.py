"""Therapy episodes from MedicationRequest, MedicationStatement and MedicationAdministration.

Periods follow clinical-spec section 1 ("Therapy periods"). Known RxNorm codes match first
(SCD/SBD, ingredient, VSAC members); otherwise the ingredient name in a coding display or
text (recorded as MatchedBy.INGREDIENT_NAME).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from . import codes
from .access import (
    MAX_TEXT,
    as_dict,
    as_list,
    as_number,
    as_str,
    codings,
    concept_texts,
    status_code,
)
from .bundle import reference_of
from .context import Context
from .dates import add_days, parse_date, period_dates
from .facts import DrugClass, MatchedBy, PeriodKind, Provenance, TherapyEpisode, TherapyPeriod
from .glucocorticoid_dose import read_dose

DEFAULT_SUPPLY_DAYS = 90
NOT_EXPOSURE_INTENTS = frozenset({"proposal", "plan", "option", "directive"})
_DURATION_DAYS = {
    "d": 1.0, "day": 1.0, "days": 1.0, "wk": 7.0, "week": 7.0, "weeks": 7.0,
    "mo": 30.4375, "month": 30.4375, "months": 30.4375, "a": 365.25, "year": 365.25,
    "h": 1 / 24,
}  # fmt: skip
MAX_REPEATS = 100
# clinical-spec §0.1: only a dose that was given (or is being given) is therapy
ADMINISTERED_STATUSES = frozenset({"completed", "in-progress"})
_KINDS = {
    "MedicationRequest": PeriodKind.ORDER,
    "MedicationStatement": PeriodKind.STATEMENT,
    "MedicationAdministration": PeriodKind.ADMINISTRATION,
}


@dataclass(frozen=True, slots=True)
class _Match:
    ingredient: str
    drug_class: DrugClass
    matched_by: MatchedBy
    display: str | None


def _concepts(resource: dict[str, Any], ctx: Context) -> tuple[list[Any], list[Any]]:
    """(code concepts, form/route concepts) of the medication, following medicationReference."""
    concepts: list[Any] = []
    forms: list[Any] = []
    if "medicationCodeableConcept" in resource:
        concepts.append(resource.get("medicationCodeableConcept"))
    reference = resource.get("medicationReference")
    if reference is not None:
        medication = ctx.pool.resolve(reference, container=resource)
        if isinstance(medication, dict) and medication.get("resourceType") == "Medication":
            concepts.append(medication.get("code"))
            forms.append(medication.get("form"))
            for ingredient in as_list(medication.get("ingredient")):
                concepts.append(as_dict(ingredient).get("itemCodeableConcept"))
        text = as_str(as_dict(reference).get("display"))
        if text:
            concepts.append({"text": text[:MAX_TEXT]})
    for dosage in as_list(resource.get("dosageInstruction")) + as_list(resource.get("dosage")):
        dosage = as_dict(dosage)
        forms.append(dosage.get("route"))
        if isinstance(dosage.get("text"), str):
            forms.append({"text": dosage["text"][:MAX_TEXT]})
    return concepts, forms


def _classify(
    ingredient: str, texts: str, form_concepts: list[Any], code_fixes_form: bool
) -> DrugClass | None:
    spec = codes.INGREDIENTS[ingredient]
    drug_class = spec.drug_class
    route_keys = {(s, c) for concept in form_concepts for s, c, _ in codings(concept)}
    form_text = " ".join(t for concept in form_concepts for t in concept_texts(concept))
    all_text = f"{texts} {form_text}"
    non_systemic = route_keys & codes.NON_SYSTEMIC_ROUTES or (
        not route_keys & codes.ORAL_ROUTES and codes.NON_SYSTEMIC_WORDS.search(all_text)
    )
    if spec.systemic_only and not code_fixes_form and non_systemic:
        return None
    if spec.injectable_class and codes.INJECTABLE_WORDS.search(all_text):
        drug_class = spec.injectable_class
    return DrugClass(drug_class)


def match_medication(resource: dict[str, Any], ctx: Context) -> _Match | None:
    concepts, forms = _concepts(resource, ctx)
    texts = " ".join(t for concept in concepts for t in concept_texts(concept))
    for concept in concepts:
        for system, code, display in codings(concept):
            entry = codes.MEDICATION_CODES.get((system, code))
            if entry is None:
                continue
            drug_class = _classify(entry.ingredient, texts, forms, entry.route_known)
            if drug_class is None:
                return None
            return _Match(entry.ingredient, drug_class, MatchedBy.CODE, display or texts[:200])
    if not texts:
        return None
    ingredient = codes.ingredient_from_words(texts)
    if ingredient is None:
        return None
    drug_class = _classify(ingredient, texts, forms, False)
    if drug_class is None:
        return None
    return _Match(ingredient, drug_class, MatchedBy.INGREDIENT_NAME, texts[:200])


def duration_days(quantity: Any) -> float | None:
    quantity = as_dict(quantity)
    number = as_number(quantity.get("value"))
    unit = (as_str(quantity.get("code")) or as_str(quantity.get("unit")) or "d").lower()
    factor = _DURATION_DAYS.get(unit)
    if number is None or factor is None or number <= 0:
        return None
    return number * factor


def _request_period(
    resource: dict[str, Any], ctx: Context, reference: str
) -> tuple[date, date | None] | None:
    status = status_code(resource)
    dispense = as_dict(resource.get("dispenseRequest"))
    v_start, v_end, v_bad = period_dates(dispense.get("validityPeriod"))
    raw_authored = resource.get("authoredOn")
    authored = parse_date(raw_authored)
    if raw_authored is not None and authored is None and v_start is None:
        ctx.notes.add("Medication order with unreadable authoredOn; not used", reference)
        return None
    start = v_start or authored
    if start is None:
        ctx.notes.add("Medication order without a start date; not used", reference)
        return None
    if v_end is not None and not v_bad:
        return start, v_end
    if status == "active":
        return start, None
    days = duration_days(dispense.get("expectedSupplyDuration"))
    if days is None:
        days = DEFAULT_SUPPLY_DAYS
    else:
        repeats = as_number(dispense.get("numberOfRepeatsAllowed"))
        repeats = int(repeats) if repeats is not None and 0 <= repeats <= MAX_REPEATS else 0
        days *= repeats + 1
    return start, add_days(start, days)


def _statement_period(
    resource: dict[str, Any], ctx: Context, reference: str
) -> tuple[date, date | None] | None:
    status = status_code(resource)
    if "effectivePeriod" in resource:
        start, end, malformed = period_dates(resource.get("effectivePeriod"))
        if malformed and not start:
            ctx.notes.add("Medication statement with unreadable period; not used", reference)
            return None
    elif "effectiveDateTime" in resource:
        start = parse_date(resource.get("effectiveDateTime"))
        end = None if status == "active" else start
    else:
        start, end = parse_date(resource.get("dateAsserted")), None
        if status != "active":
            end = start
    if start is None:
        ctx.notes.add("Medication statement without a usable date; not used", reference)
        return None
    if end is None and status != "active":
        end = parse_date(resource.get("dateAsserted")) or start
    if end is not None and end < start:
        end = start
    return start, end


def _administration_period(
    resource: dict[str, Any], ctx: Context, reference: str, ingredient: str
) -> tuple[date, date | None] | None:
    """One administered dose covers its dosing interval (zoledronic acid a year, denosumab
    six months): an infusion recorded only as an administration is still therapy."""
    if "effectivePeriod" in resource:
        start, end, _ = period_dates(resource.get("effectivePeriod"))
        start = start or end
    else:
        start = parse_date(resource.get("effectiveDateTime"))
    if start is None:
        ctx.notes.add("Medication administration without a usable date; not used", reference)
        return None
    return start, add_days(start, codes.INGREDIENTS[ingredient].dose_interval_days - 1)


def _given_in(order: TherapyPeriod, given: list[TherapyPeriod], as_of: date) -> bool:
    end = order.end or as_of
    return any(order.start <= dose.start <= end for dose in given)


def _administrations_decide(periods: list[TherapyPeriod], ctx: Context) -> list[TherapyPeriod]:
    """Where a drug's administrations are on record they decide its coverage: an order with no
    administration in its interval does not show the drug was given (clinical-spec §0.1)."""
    given = [p for p in periods if p.kind is PeriodKind.ADMINISTRATION]
    if not given:
        return periods
    kept = []
    for period in periods:
        if period.kind is PeriodKind.ORDER and not _given_in(period, given, ctx.as_of):
            ctx.notes.add(
                "Order without an administration in its interval: not counted as given",
                period.source.reference,
                period.start,
            )
            continue
        kept.append(period)
    return kept


def product_texts(resource: dict[str, Any], ctx: Context) -> list[str]:
    concepts, _ = _concepts(resource, ctx)
    return [t for concept in concepts for t in concept_texts(concept)]


def map_medications(ctx: Context) -> list[TherapyEpisode]:
    episodes: dict[tuple[DrugClass, str], tuple[MatchedBy, list[TherapyPeriod]]] = {}
    for resource_type in ("MedicationRequest", "MedicationStatement", "MedicationAdministration"):
        for resource in ctx.pool.of_type(resource_type):
            if resource_type == "MedicationRequest" and (
                status_code(resource, "intent") in NOT_EXPOSURE_INTENTS
                or resource.get("doNotPerform") is True
            ):
                continue
            if (
                resource_type == "MedicationAdministration"
                and status_code(resource) not in ADMINISTERED_STATUSES
            ):
                continue
            match = match_medication(resource, ctx)
            if match is None:
                continue
            reference = reference_of(resource)
            if resource_type == "MedicationRequest":
                period = _request_period(resource, ctx, reference)
            elif resource_type == "MedicationStatement":
                period = _statement_period(resource, ctx, reference)
            else:
                period = _administration_period(resource, ctx, reference, match.ingredient)
            if period is None:
                continue
            start, end = period
            ok, start = ctx.usable_date(start, False, reference, "Medication")
            if not ok or start is None:
                continue
            dose = None
            if match.drug_class is DrugClass.GLUCOCORTICOID:
                dose = read_dose(resource, match.ingredient, product_texts(resource, ctx))
            item = TherapyPeriod(
                start,
                end,
                Provenance(reference, start, match.display),
                status_code(resource),
                _KINDS[resource_type],
                dose,
            )
            key = (match.drug_class, match.ingredient)
            matched_by, periods = episodes.get(key, (match.matched_by, []))
            if match.matched_by is MatchedBy.CODE:
                matched_by = MatchedBy.CODE
            periods.append(item)
            episodes[key] = (matched_by, periods)
    result = []
    for (drug_class, ingredient), (matched_by, periods) in sorted(
        episodes.items(), key=lambda kv: (kv[0][0].value, kv[0][1])
    ):
        periods = _administrations_decide(periods, ctx)
        if periods:
            result.append(
                TherapyEpisode(
                    drug_class=drug_class,
                    ingredient=ingredient,
                    matched_by=matched_by,
                    periods=tuple(sorted(periods, key=lambda p: (p.start, p.source.reference))),
                )
            )
    return result


__all__ = ["duration_days", "map_medications", "match_medication", "product_texts"]
