"""A glucocorticoid order's daily dose, in mg of the drug and in prednisone equivalents.

Read in this order (clinical-spec §0.1): the structured dose (doseQuantity × frequency / period)
in mg, or in tablets or mL times the product's strength; else the dosage text ("10 mg daily",
"10 mg AM, 5 mg PM", "5 mg twice daily"). A dose that is written but cannot be read (an unknown
unit, a tablet count without a strength) is said to be unreadable, never guessed.
"""

from __future__ import annotations

import re
from typing import Any

from . import codes
from .access import as_dict, as_list, as_number, as_str
from .facts import GlucocorticoidDose

_PER_DAY = {"d": 1.0, "h": 24.0, "min": 1440.0, "wk": 1 / 7, "mo": 1 / 30.4375, "a": 1 / 365.25}
_TIMING_CODES = {
    "QD": 1.0, "AM": 1.0, "PM": 1.0, "QHS": 1.0, "BID": 2.0, "TID": 3.0, "QID": 4.0,
    "Q4H": 6.0, "Q6H": 4.0, "Q8H": 3.0, "Q12H": 2.0, "QOD": 0.5, "WK": 1 / 7,
}  # fmt: skip
_MG = {"mg": 1.0, "milligram": 1.0, "milligrams": 1.0, "g": 1000.0, "ug": 0.001, "mcg": 0.001}
_UNITS_OF_PRODUCT = {
    "tab", "tabs", "tablet", "tablets", "{tbl}", "{tablet}", "{tablets}", "tbl", "1", "{tab}",
    "cap", "caps", "capsule", "capsules", "{capsule}", "{cap}",
    "pill", "pills", "{pill}",  # the CDS Hooks sandbox's order form
}  # fmt: skip
_ML = {"ml", "milliliter", "millilitre"}
_STRENGTH = re.compile(r"(\d+(?:\.\d+)?)\s*mg\b(?!\s*/)", re.IGNORECASE)
_LIQUID = re.compile(r"(\d+(?:\.\d+)?)\s*mg\s*/\s*(\d+(?:\.\d+)?)?\s*ml\b", re.IGNORECASE)

# "10 mg" followed by when it is taken; the frequency words of common sigs
_AMOUNT = re.compile(r"(\d+(?:\.\d+)?)\s*(mg|milligrams?|tablets?|tabs?)\b", re.IGNORECASE)
_SIG = r"^\W*(?:by mouth\W+|orally\W+|po\W+)?"
_FREQUENCIES: tuple[tuple[re.Pattern[str], float], ...] = tuple(
    (re.compile(_SIG + pattern, re.IGNORECASE), per_day)
    for pattern, per_day in (
        (r"(?:four times (?:a |per )?day|qid|q\.i\.d\.?)", 4.0),
        (r"(?:three times (?:a |per )?day|tid|t\.i\.d\.?)", 3.0),
        (r"(?:twice (?:a |per )?(?:day|daily)|two times (?:a |per )?day|bid|b\.i\.d\.?)", 2.0),
        (r"(?:every other day|on alternate days|alternate days|qod)", 0.5),
        (r"(?:once (?:a |per )?week|weekly|every week)", 1 / 7),
        (
            r"(?:once (?:a |per )?day|once daily|daily|every day|a day|per day|/day|qd|q\.d\.?|"
            r"in the morning|every morning|each morning|mornings?|am|a\.m\.|in the evening|"
            r"every evening|at night|nightly|at bedtime|pm|p\.m\.|qhs|noon|at noon)\b",
            1.0,
        ),
    )
)


def _lower(value: Any) -> str:
    return (as_str(value) or "").strip().lower()


def _product_strength(texts: list[str]) -> tuple[float | None, float | None]:
    """(mg per tablet, mg per mL) named in the product's coding display or text."""
    per_ml = None
    for text in texts:
        liquid = _LIQUID.search(text)
        if liquid:
            volume = float(liquid.group(2)) if liquid.group(2) else 1.0
            if volume > 0:
                per_ml = float(liquid.group(1)) / volume
                break
    for text in texts:
        solid = _STRENGTH.search(text)
        if solid:
            return float(solid.group(1)), per_ml
    return None, per_ml


def _per_day(timing: Any) -> float | None:
    timing = as_dict(timing)
    repeat = as_dict(timing.get("repeat"))
    if repeat:
        frequency = as_number(repeat.get("frequency"))
        frequency = 1.0 if frequency is None else frequency
        when = as_list(repeat.get("when"))
        if not repeat.get("frequency") and len(when) > 1:
            frequency = float(len(when))  # "morning and evening"
        period = as_number(repeat.get("period"))
        unit = _lower(repeat.get("periodUnit")) or "d"
        if period is None:
            return frequency if unit == "d" or not repeat.get("period") else None
        factor = _PER_DAY.get(unit)
        if factor is None or period <= 0 or frequency <= 0:
            return None
        return frequency / period * factor
    for coding in as_list(as_dict(timing.get("code")).get("coding")):
        code = (as_str(as_dict(coding).get("code")) or "").upper()
        if code in _TIMING_CODES:
            return _TIMING_CODES[code]
    return None


def _structured_mg_per_day(
    dosage: dict[str, Any], strength: tuple[float | None, float | None]
) -> tuple[float | None, str | None]:
    """(mg/day, why not) from doseAndRate.doseQuantity and timing; (None, None) when absent."""
    quantity = None
    for item in as_list(dosage.get("doseAndRate")):
        quantity = as_dict(as_dict(item).get("doseQuantity")) or None
        if quantity:
            break
    if quantity is None:
        return None, None
    amount = as_number(quantity.get("value"))
    unit = _lower(quantity.get("code")) or _lower(quantity.get("unit"))
    if amount is None or amount < 0:
        return None, "dose without a numeric value"
    if unit in _MG:
        mg = amount * _MG[unit]
    elif unit in _UNITS_OF_PRODUCT and strength[0] is not None:
        mg = amount * strength[0]
    elif unit in _ML and strength[1] is not None:
        mg = amount * strength[1]
    else:
        shown = as_str(quantity.get("unit")) or as_str(quantity.get("code")) or "no unit"
        return None, f"dose in unit {shown[:40]!r} could not be read"
    per_day = _per_day(dosage.get("timing"))
    if per_day is None:
        return None, "dose frequency could not be read"
    return mg * per_day, None


def _text_mg_per_day(text: str, strength: float | None) -> float | None:
    """'10 mg daily', '10 mg AM, 5 mg PM', '2 tablets twice daily'; None when unclear."""
    total = 0.0
    found = False
    for match in _AMOUNT.finditer(text):
        amount = float(match.group(1))
        unit = match.group(2).lower()
        if unit.startswith("tab"):
            if strength is None:
                return None
            amount *= strength
        rest = text[match.end() : match.end() + 60]
        per_day = next((f for pattern, f in _FREQUENCIES if pattern.search(rest)), None)
        if per_day is None:
            return None  # an amount without a frequency: the dose cannot be known
        total += amount * per_day
        found = True
    return total if found else None


def read_dose(
    resource: dict[str, Any], ingredient: str, product_texts: list[str]
) -> GlucocorticoidDose:
    factor = codes.INGREDIENTS[ingredient].prednisone_factor or 1.0
    strength = _product_strength(product_texts)
    dosages = [as_dict(d) for d in as_list(resource.get("dosageInstruction"))]
    dosages += [as_dict(d) for d in as_list(resource.get("dosage"))]
    if not dosages:
        return GlucocorticoidDose(None, None, "dose not recorded")
    # Several instructions of one sequence are taken together (10 mg AM and 5 mg PM); a later
    # sequence is a taper step, not today's dose.
    first = min((as_number(d.get("sequence")) or 0) for d in dosages)
    current = [d for d in dosages if (as_number(d.get("sequence")) or 0) == first]
    total, problem, how = 0.0, None, "structured dose"
    for dosage in current:
        mg, why = _structured_mg_per_day(dosage, strength)
        if mg is None:
            text = as_str(dosage.get("text")) or as_str(dosage.get("patientInstruction"))
            from_text = _text_mg_per_day(text[:300], strength[0]) if text else None
            if from_text is None:
                problem = why or ("dose text could not be read" if text else "dose not recorded")
                break
            mg, how = from_text, "dose text"
        total += mg
    if problem is not None:
        return GlucocorticoidDose(None, None, problem, readable=problem == "dose not recorded")
    return GlucocorticoidDose(round(total, 3), round(total * factor, 3), how)
