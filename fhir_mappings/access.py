"""Defensive readers for FHIR JSON: every function accepts anything and never raises.

Inputs come from EHRs and hostile callers alike; a field of the wrong type is treated as
absent. Numbers exclude booleans and non-finite floats.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

from .codes import normalise_code, normalise_system


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def as_number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except (OverflowError, ValueError):
        return None
    return number if math.isfinite(number) else None


_NUMBER = re.compile(r"^\s*(<=|>=|<|>|≤|≥)?\s*([+\-−]?(?:\d+(?:\.\d*)?|\.\d+))\s*([^\d\s].*)?$")
_COMPARATORS = {"≤": "<=", "≥": ">="}


def parse_numeric_string(value: Any) -> tuple[str | None, float, str | None] | None:
    """``"<4.0"`` → ``("<", 4.0, None)``; ``"-2.5"`` → ``(None, -2.5, None)``;
    ``"45 nmol/L"`` → ``(None, 45.0, "nmol/L")``. None when the text is not a number."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    match = _NUMBER.match(value)
    if match is None:
        return None
    comparator, digits, unit = match.groups()
    try:
        number = float(digits.replace("−", "-"))
    except ValueError:
        return None
    if not math.isfinite(number):
        return None
    comparator = _COMPARATORS.get(comparator, comparator) if comparator else None
    return comparator, number, unit.strip() if unit else None


def codings(concept: Any) -> Iterator[tuple[str, str, str | None]]:
    """``(system, code, display)`` of each well-formed coding, system and code normalised."""
    for coding in as_list(as_dict(concept).get("coding")):
        if not isinstance(coding, dict):
            continue
        system, code = coding.get("system"), coding.get("code")
        if isinstance(system, str) and isinstance(code, str) and code:
            normalised = normalise_system(system)
            yield normalised, normalise_code(normalised, code), as_str(coding.get("display"))


MAX_TEXT = 300  # drug and test names are short; longer text is cut before any pattern search


def concept_texts(concept: Any) -> list[str]:
    """The text and every coding display of a CodeableConcept (for name matching and display)."""
    concept = as_dict(concept)
    texts = [t[:MAX_TEXT] for t in [as_str(concept.get("text"))] if t]
    for coding in as_list(concept.get("coding"))[:20]:
        display = as_str(as_dict(coding).get("display"))
        if display:
            texts.append(display[:MAX_TEXT])
    return texts


def concept_display(concept: Any) -> str | None:
    texts = concept_texts(concept)
    return texts[0][:200] if texts else None


def codes_of(concept: Any, system: str) -> Iterator[str]:
    for coding_system, code, _ in codings(concept):
        if coding_system == system:
            yield code


def status_code(resource: dict[str, Any], field: str = "status") -> str | None:
    value = resource.get(field)
    return value.strip().lower() if isinstance(value, str) else None


def concept_status(resource: dict[str, Any], field: str) -> set[str]:
    """Codes of a status CodeableConcept such as Condition.verificationStatus (lower-case)."""
    return {code.lower() for _, code, _ in codings(resource.get(field))}
