"""Kidney function, calcium, albumin and body mass index from Observations (clinical-spec §0.1).

A value is used only when its unit says what it is: an eGFR without a unit, a creatinine in an
unknown unit or a calcium that is neither mg/dL nor mmol/L becomes an ``UnreadableValue``, which
decides nothing and is named on the card that would have used it.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from . import codes
from .access import as_dict, as_list, as_number, as_str
from .context import Context
from .facts import (
    BodyMassIndex,
    CalciumKind,
    CalciumResult,
    KidneyFunction,
    KidneyMethod,
    Provenance,
    Sex,
    UnreadableValue,
)
from .kidney_equations import ckd_epi_2021, cockcroft_gault
from .observations import ObsItem, Value, display_of, observation_date, readings, value_of

WEIGHT_PAIRING_DAYS = 365  # a weight within a year of the creatinine describes the patient


@dataclass(frozen=True, slots=True)
class _Reading:
    code: str
    value: Value
    holder: dict
    when: date
    source: Provenance


@dataclass(slots=True)
class LabFacts:
    kidney: list[KidneyFunction]
    calcium: list[CalciumResult]
    unreadable: list[UnreadableValue]


def _unit_key(value: Value) -> str:
    return value.unit.replace(" ", "").lower() if value.unit else ""


def _readings(items: Iterable[ObsItem], wanted: frozenset[str], ctx: Context, what: str):
    found: list[_Reading] = []
    for item in items:
        for code, holder in readings(item, wanted):
            when, malformed = observation_date(item.resource)
            ok, when = ctx.usable_date(when or item.fallback_date, malformed, item.reference, what)
            if not ok or when is None:
                break
            value = value_of(holder)
            source = Provenance(item.reference, when, display_of(holder))
            if value is None or value.comparator is not None or value.number < 0:
                ctx.notes.add(
                    f"{what} ({code}) without a plain numeric value; not used", item.reference
                )
                continue
            found.append(_Reading(code, value, holder, when, source))
    return sorted(found, key=lambda r: (r.when, r.source.reference))


def _in_unit(reading: _Reading, table: dict | object, what: str, out: list[UnreadableValue]):
    factor = table.get(_unit_key(reading.value))  # type: ignore[attr-defined]
    if factor is None:
        unit = reading.value.unit_text or "no unit"
        out.append(UnreadableValue(what, f"unit {unit!r} not recognised", reading.source))
    return factor


def _age_at(ctx: Context, when: date) -> int | None:
    """Completed years on the day of the result, as the equations' calculators take it."""
    birth = ctx.birth_date
    if birth is None:
        return None
    return when.year - birth.year - ((when.month, when.day) < (birth.month, birth.day))


def map_kidney(
    items: list[ObsItem], ctx: Context, sex: Sex
) -> tuple[list[KidneyFunction], list[UnreadableValue]]:
    unreadable: list[UnreadableValue] = []
    results: list[KidneyFunction] = []
    for reading in _readings(items, codes.EGFR, ctx, "eGFR"):
        unit = _unit_key(reading.value)
        if unit not in codes.EGFR_UNITS:
            shown = reading.value.unit_text or "no unit"
            unreadable.append(
                UnreadableValue("eGFR", f"unit {shown!r} not recognised", reading.source)
            )
            continue
        results.append(
            KidneyFunction(KidneyMethod.EGFR_REPORTED, reading.value.number, reading.source)
        )
    weights: list[tuple[date, float, Provenance]] = []
    for reading in _readings(items, codes.WEIGHT, ctx, "Body weight"):
        factor = codes.WEIGHT_TO_KG.get(_unit_key(reading.value))
        if factor is not None and reading.value.number > 0:
            weights.append((reading.when, reading.value.number * factor, reading.source))
    weight_days = [w[0] for w in weights]  # sorted, as _readings returns them
    reported_days = {r.source.date for r in results}
    for reading in _readings(items, codes.CREATININE, ctx, "Creatinine"):
        factor = _in_unit(reading, codes.CREATININE_TO_MG_DL, "creatinine", unreadable)
        if factor is None or reading.value.number == 0:
            continue
        mg_dl = reading.value.number * factor
        age = _age_at(ctx, reading.when)
        if age is None or sex not in (Sex.FEMALE, Sex.MALE):
            unreadable.append(
                UnreadableValue(
                    "creatinine",
                    "eGFR not computed: the equation needs the patient's age and sex",
                    reading.source,
                )
            )
            continue
        if reading.when not in reported_days:  # a laboratory's own eGFR of that day wins
            egfr = ckd_epi_2021(mg_dl, age, sex)
            if egfr is not None:
                results.append(
                    KidneyFunction(KidneyMethod.EGFR_CKD_EPI_2021, egfr, reading.source, mg_dl)
                )
        weight = _nearest_weight(weights, weight_days, reading.when)
        if weight is not None:
            _, kg, weight_source = weight
            crcl = cockcroft_gault(mg_dl, age, kg, sex)
            if crcl is not None:
                results.append(
                    KidneyFunction(
                        KidneyMethod.CRCL_COCKCROFT_GAULT,
                        crcl,
                        reading.source,
                        mg_dl,
                        kg,
                        weight_source,
                    )
                )
    results.sort(key=lambda k: (k.source.date or date.min, k.source.reference, k.method.value))
    return results, unreadable


def _reference_low(holder: dict) -> tuple[float, str] | None:
    for item in as_list(holder.get("referenceRange")):
        low = as_dict(as_dict(item).get("low"))
        number = as_number(low.get("value"))
        unit = (as_str(low.get("code")) or as_str(low.get("unit")) or "").replace(" ", "").lower()
        if number is not None and number > 0:
            return number, unit
    return None


def map_calcium(
    items: list[ObsItem], ctx: Context
) -> tuple[list[CalciumResult], list[UnreadableValue]]:
    unreadable: list[UnreadableValue] = []
    albumins: list[tuple[date, float, Provenance]] = []
    for reading in _readings(items, codes.ALBUMIN, ctx, "Albumin"):
        factor = _in_unit(reading, codes.ALBUMIN_TO_G_DL, "albumin", unreadable)
        if factor is not None and reading.value.number > 0:
            albumins.append((reading.when, reading.value.number * factor, reading.source))
    albumin_days = [a[0] for a in albumins]  # sorted, as _readings returns them
    results: list[CalciumResult] = []
    for reading in _readings(items, codes.CALCIUM_TOTAL | codes.CALCIUM_IONIZED, ctx, "Calcium"):
        unit = codes.CALCIUM_UNITS.get(_unit_key(reading.value))
        if unit is None:
            shown = reading.value.unit_text or "no unit"
            unreadable.append(
                UnreadableValue("calcium", f"unit {shown!r} not recognised", reading.source)
            )
            continue
        measured = reading.value.number
        own = _reference_low(reading.holder)
        reference_low = own[0] if own and codes.CALCIUM_UNITS.get(own[1]) == unit else None
        if reading.code in codes.CALCIUM_IONIZED:
            results.append(
                CalciumResult(
                    CalciumKind.IONIZED, measured, measured, unit, reading.source,
                    reference_low=reference_low,
                )
            )  # fmt: skip
            continue
        albumin = _paired_albumin(albumins, albumin_days, reading.when)
        if unit == "mg/dL":
            value = measured if albumin is None else measured + 0.8 * (4.0 - albumin[1])
        else:
            value = measured if albumin is None else measured + 0.02 * (40.0 - albumin[1] * 10)
        results.append(
            CalciumResult(
                CalciumKind.TOTAL,
                measured,
                # rounded as a laboratory reports it, so 8.3 + 0.2 is 8.5, not 8.4999…
                round(value, 2 if unit == "mg/dL" else 3),
                unit,
                reading.source,
                albumin_g_dl=None if albumin is None else albumin[1],
                albumin_source=None if albumin is None else albumin[2],
            )
        )
    return results, unreadable


def _paired_albumin(
    albumins: list[tuple[date, float, Provenance]], days: list[date], when: date
) -> tuple[date, float, Provenance] | None:
    """The last albumin of the same day, else the latest within the pairing window before.

    Binary search over the sorted days: a chart with thousands of results must not pair each
    calcium by scanning every albumin."""
    same_or_before = bisect_right(days, when) - 1
    if same_or_before < 0:
        return None
    candidate = albumins[same_or_before]
    if candidate[0] == when or (when - candidate[0]).days <= codes.ALBUMIN_PAIRING_DAYS:
        return candidate
    return None


def _nearest_weight(
    weights: list[tuple[date, float, Provenance]], days: list[date], when: date
) -> tuple[date, float, Provenance] | None:
    """The weight nearest in time within the pairing window; on a tie the earlier one.

    Only the neighbours of ``when`` in the sorted days can be nearest, so a binary search
    finds it without scanning every weight for every creatinine."""
    after = bisect_left(days, when)  # first weight on or after the day
    best: tuple[date, float, Provenance] | None = None
    if after > 0:
        before_day = days[after - 1]
        best = weights[bisect_left(days, before_day)]  # the first of that day, as listed
    if after < len(days) and (best is None or (days[after] - when).days < (when - best[0]).days):
        best = weights[after]
    if best is None or abs((best[0] - when).days) > WEIGHT_PAIRING_DAYS:
        return None
    return best


def map_body_mass_index(
    items: list[ObsItem], ctx: Context
) -> tuple[BodyMassIndex | None, list[UnreadableValue]]:
    """The latest BMI in kg/m²; one in another unit, or outside any adult's range, decides
    nothing (a BMI of 2 is a typing slip, not low body weight) and is named instead."""
    unreadable: list[UnreadableValue] = []
    latest: BodyMassIndex | None = None
    low, high = codes.BODY_MASS_INDEX_RANGE
    for reading in _readings(items, codes.BODY_MASS_INDEX, ctx, "Body mass index"):
        if _unit_key(reading.value) not in codes.BODY_MASS_INDEX_UNITS:
            shown = reading.value.unit_text or "no unit"
            unreadable.append(
                UnreadableValue("Body mass index", f"unit {shown!r} not recognised", reading.source)
            )
            continue
        if not low <= reading.value.number <= high:
            unreadable.append(
                UnreadableValue(
                    "Body mass index",
                    f"{reading.value.number:g} kg/m² is outside {low:g}-{high:g}",
                    reading.source,
                )
            )
            continue
        latest = BodyMassIndex(reading.value.number, reading.source)  # readings are in date order
    return latest, unreadable
