"""Shared reading of Observations: code pre-filter, dates, values, panels and components.

Only Observations carrying a code of interest (at top level or in a component), and panels,
get any deeper look: a prefetch of 10,000 unrelated vital signs costs one set lookup each.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from . import codes
from .access import as_dict, as_list, as_number, as_str, codings, parse_numeric_string
from .bundle import IGNORED_STATUS, Pool, reference_of
from .dates import parse_date, period_dates

_INTEREST = codes.OBSERVATION_CODES_OF_INTEREST


def loinc_codes(concept: Any) -> list[str]:
    return [code for system, code, _ in codings(concept) if system == codes.LOINC]


@dataclass(slots=True)
class ObsItem:
    resource: dict[str, Any]
    reference: str
    fallback_date: date | None  # the date of a panel or report that lists this Observation
    # (code, value holder) of the Observation itself and of its components, codes of interest
    # only: read once here so each fact family's look costs a set intersection
    hits: tuple[tuple[str, dict[str, Any]], ...] = ()
    codes: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Value:
    number: float
    comparator: str | None
    unit: str  # UCUM code if given, else the human unit, else ""
    unit_text: str  # the human unit if given, else the code


def _interest_code(concept: Any) -> str | None:
    """The first LOINC code of interest among the concept's codings (``loinc_codes`` order).

    Most Observations carry no code of interest; testing the raw code against the set
    first skips normalising every coding of every vital sign. For LOINC the normalised code
    is the stripped code, so the test is exact.
    """
    if not isinstance(concept, dict):
        return None
    coding_list = concept.get("coding")
    if not isinstance(coding_list, list):
        return None
    for coding in coding_list:
        if not isinstance(coding, dict):
            continue
        code, system = coding.get("code"), coding.get("system")
        if not isinstance(code, str) or not code or not isinstance(system, str):
            continue
        stripped = code.strip()
        if stripped in _INTEREST and codes.normalise_system(system) == codes.LOINC:
            return stripped
    return None


def _hits(resource: dict[str, Any]) -> tuple[tuple[str, dict[str, Any]], ...]:
    hits: list[tuple[str, dict[str, Any]]] = []
    code = _interest_code(resource.get("code"))
    if code is not None:
        hits.append((code, resource))
    for component in as_list(resource.get("component")):
        if not isinstance(component, dict):
            continue
        code = _interest_code(component.get("code"))
        if code is not None:
            hits.append((code, component))
    return tuple(hits)


def _item(resource: dict[str, Any], reference: str, fallback: date | None) -> ObsItem | None:
    hits = _hits(resource)
    if not hits:
        return None
    return ObsItem(resource, reference, fallback, hits, frozenset(code for code, _ in hits))


def _pooled_item(resource: dict[str, Any], fallback: date | None) -> ObsItem | None:
    """``_item`` for a pooled Observation, naming it only when it is of interest."""
    hits = _hits(resource)
    if not hits:
        return None
    return ObsItem(
        resource, reference_of(resource), fallback, hits, frozenset(code for code, _ in hits)
    )


def observation_date(resource: dict[str, Any]) -> tuple[date | None, bool]:
    """Clinically relevant date and whether a present date field was malformed."""
    malformed = False
    for name in ("effectiveDateTime", "effectiveInstant"):
        raw = resource.get(name)
        if raw is not None:
            parsed = parse_date(raw)
            if parsed is not None:
                return parsed, False
            malformed = True
    if "effectivePeriod" in resource:
        start, end, bad = period_dates(resource.get("effectivePeriod"))
        if end or start:
            return end or start, False
        malformed = malformed or bad
    raw = resource.get("issued")
    if raw is not None:
        parsed = parse_date(raw)
        if parsed is not None:
            return parsed, False
        malformed = True
    return None, malformed


def collect(pool: Pool) -> list[ObsItem]:
    """Observations worth reading, with panel members (also contained ones) resolved."""
    fallback: dict[int, date] = {}
    extra: list[ObsItem] = []
    panels = [
        (panel, "hasMember")
        for panel in pool.of_type("Observation")
        if isinstance(panel.get("hasMember"), list)
    ] + [(report, "result") for report in pool.of_type("DiagnosticReport")]
    for panel, member_field in panels:
        panel_date, _ = observation_date(panel)
        for ref in as_list(panel.get(member_field)):
            member = pool.resolve(ref, container=panel)
            if member is None or member.get("resourceType") != "Observation":
                continue
            ref_text = as_str(as_dict(ref).get("reference")) or ""
            if ref_text.startswith("#"):
                item = _item(member, f"{reference_of(panel)}{ref_text}", panel_date)
                if item is not None and status_code_ok(member):
                    extra.append(item)
            elif panel_date is not None:
                fallback.setdefault(id(member), panel_date)
    items = [
        item
        for resource in pool.of_type("Observation")
        if (item := _pooled_item(resource, fallback.get(id(resource))))
    ]
    return items + extra


def status_code_ok(resource: dict[str, Any]) -> bool:
    status = resource.get("status")
    return not (isinstance(status, str) and status.lower() in IGNORED_STATUS["Observation"])


def readings(item: ObsItem, wanted: frozenset[str]) -> list[tuple[str, dict[str, Any]]]:
    """``(loinc code, value holder)`` for the Observation itself and each component."""
    if item.codes.isdisjoint(wanted):
        return []
    return [(code, holder) for code, holder in item.hits if code in wanted]


def has_value(holder: dict[str, Any]) -> bool:
    return any(key.startswith("value") for key in holder)


def value_of(holder: dict[str, Any]) -> Value | None:
    """A numeric value from valueQuantity, valueInteger or a numeric valueString."""
    quantity = holder.get("valueQuantity")
    if isinstance(quantity, dict):
        number = as_number(quantity.get("value"))
        if number is None:
            # a number sent as a JSON string ("-2.5") is wrong but unambiguous
            parsed = parse_numeric_string(quantity.get("value"))
            if parsed is None or parsed[0] is not None or parsed[2] is not None:
                return None
            number = parsed[1]
        comparator = as_str(quantity.get("comparator"))
        if comparator not in (None, "<", "<=", ">=", ">"):
            comparator = None
        code = (as_str(quantity.get("code")) or "").strip()
        text = (as_str(quantity.get("unit")) or "").strip()
        return Value(number, comparator, code or text, text or code)
    integer = as_number(holder.get("valueInteger"))
    if integer is not None:
        return Value(integer, None, "", "")
    parsed = parse_numeric_string(holder.get("valueString"))
    if parsed is not None:
        comparator, number, unit = parsed
        return Value(number, comparator, unit or "", unit or "")
    return None


def display_of(holder: dict[str, Any]) -> str | None:
    concept = as_dict(holder.get("code"))
    text = as_str(concept.get("text"))
    if text:
        return text[:200]
    for _, _, display in codings(concept):
        if display:
            return display[:200]
    return None
