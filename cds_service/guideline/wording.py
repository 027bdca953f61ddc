"""How numbers and dates appear in card text (values as reported, never rounded away)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date


def number(value: float) -> str:
    """``-1.8`` → ``−1.8`` (typographic minus, as in the specification's examples)."""
    text = f"{value:.6g}" if abs(value) < 1e6 else f"{value:.0f}"
    return text.replace("-", "\u2212")


def score(value: float, classify: Callable[[float], object] | None = None) -> str:
    """A T- or Z-score for display: as reported, at most 2 decimals (``-3.57763`` → ``−3.58``).

    Rounding must never make the value read as another class than the one computed from it:
    −2.4999 (osteopenia) may not read −2.50 (osteoporosis), so then as many more decimals are
    shown as it takes (−2.4999). ``classify`` maps a value to its class. Rules always compare
    the unrounded value.
    """
    return decimals(value, 2, classify)


def decimals(value: float, places: int, classify: Callable[[float], object] | None = None) -> str:
    """``value`` with at most ``places`` decimals, more only where fewer would change its class
    (a 25(OH)D of 19.99 ng/mL is not shown as 20.0 beside "below the 20 ng/mL target")."""
    for shown_places in range(places, 7):
        shown = round(value, shown_places)
        if classify is None or classify(shown) == classify(value):
            text = f"{shown:.{shown_places}f}".rstrip("0")
            text = text + "0" if text.endswith(".") else text
            return ("0.0" if shown == 0 else text).replace("-", "\u2212")
    return repr(float(value)).replace("-", "\u2212")


def one_decimal(value: float) -> str:
    return f"{value:.1f}".replace("-", "\u2212")


def day(value: date | None) -> str:
    return value.isoformat() if value is not None else "date unknown"


def shorten(text: str, limit: int = 139) -> str:
    """Summaries must stay under 140 characters; cut at a word and mark the cut."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:")
    return cut + "\u2026"


_SYSTEM_NAMES = {
    "http://snomed.info/sct": "SNOMED CT",
    "http://hl7.org/fhir/sid/icd-10-cm": "ICD-10-CM",
    "http://hl7.org/fhir/sid/icd-10": "ICD-10",
    "http://loinc.org": "LOINC",
    "http://www.nlm.nih.gov/research/umls/rxnorm": "RxNorm",
}


def code(system: str, value: str) -> str:
    """``ICD-10-CM S72.001A``: a coding as a clinician reads it."""
    return f"{_SYSTEM_NAMES.get(system, system)} {value}".strip()
