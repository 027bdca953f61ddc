"""Diagnoses from Conditions (VSAC value sets, matched on system + code, never on text) and the
raw fracture records that ``fractures.merge`` turns into events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from . import codes
from .access import as_dict, as_number, as_str, codings
from .bundle import reference_of
from .context import Context
from .dates import add_days, parse_date, period_dates, years_between
from .facts import Diagnosis, DiagnosisKind, FractureSite, Provenance

_DIAGNOSIS_SETS: tuple[tuple[DiagnosisKind, frozenset[codes.Key]], ...] = (
    (DiagnosisKind.OSTEOPENIA_OF_PREMATURITY, codes.PREMATURITY),
    (DiagnosisKind.OSTEOPENIA, codes.OSTEOPENIA),
    (DiagnosisKind.OSTEOPOROSIS_WITH_FRACTURE, codes.OSTEOPOROSIS_WITH_FRACTURE),
    (DiagnosisKind.OSTEOPOROSIS, codes.OSTEOPOROSIS),
    (DiagnosisKind.VITAMIN_D_DEFICIENCY, codes.VITAMIN_D_DEFICIENCY),
    (DiagnosisKind.MENOPAUSE, codes.MENOPAUSE),
    (DiagnosisKind.PARENT_HIP_FRACTURE, codes.PARENT_HIP_FRACTURE),
    (DiagnosisKind.PREMATURE_MENOPAUSE, codes.PREMATURE_MENOPAUSE),
    (DiagnosisKind.CKD_SEVERE, codes.CKD_SEVERE),
    (DiagnosisKind.DIALYSIS, codes.DIALYSIS),
    (DiagnosisKind.ACUTE_KIDNEY_INJURY, codes.ACUTE_KIDNEY_INJURY),
    (DiagnosisKind.ADRENAL_INSUFFICIENCY, codes.ADRENAL_INSUFFICIENCY),
    (DiagnosisKind.OESOPHAGEAL_DISEASE, codes.OESOPHAGEAL_DISEASE),
)
_AGE_UNITS = {"a": 1.0, "yr": 1.0, "year": 1.0, "years": 1.0, "mo": 1 / 12, "wk": 7 / 365.25}
_AGE_UNITS |= {"d": 1 / 365.25, "month": 1 / 12, "months": 1 / 12, "day": 1 / 365.25}


@dataclass(frozen=True, slots=True)
class FractureRecord:
    site: FractureSite
    osteoporotic: bool
    onset: date | None
    age_at_onset: float | None
    system: str
    code: str
    source: Provenance


def _onset(resource: dict[str, Any], birth: date | None) -> tuple[date | None, float | None, bool]:
    """``(onset date, age at onset, malformed)`` from onset[x], else recordedDate."""
    malformed = False
    when: date | None = None
    age: float | None = None
    if "onsetDateTime" in resource:
        when = parse_date(resource.get("onsetDateTime"))
        malformed = when is None
    elif "onsetPeriod" in resource:
        start, end, bad = period_dates(resource.get("onsetPeriod"))
        when, malformed = start or end, bad and not (start or end)
    elif "onsetAge" in resource:
        quantity = as_dict(resource.get("onsetAge"))
        number = as_number(quantity.get("value"))
        unit = (as_str(quantity.get("code")) or as_str(quantity.get("unit")) or "a").lower()
        factor = _AGE_UNITS.get(unit)
        if number is None or factor is None or number < 0:
            malformed = True
        else:
            age = number * factor
            when = add_days(birth, age * 365.25) if birth else None
    if when is None and not malformed and age is None:
        raw = resource.get("recordedDate")
        if raw is not None:
            when = parse_date(raw)
            malformed = when is None
    if age is None and when is not None and birth is not None:
        age = years_between(birth, when)
    return when, age, malformed


def _clinical_status(resource: dict[str, Any]) -> str | None:
    for _, code, _ in codings(resource.get("clinicalStatus")):
        return code.lower()
    return None


def _fracture_kind(system: str, code: str) -> tuple[str, bool] | None:
    key = (system, code)
    if key in codes.OSTEOPOROTIC_FRACTURES:
        return codes.OSTEOPOROTIC_FRACTURES[key], True
    if system == codes.ICD10CM:
        site = codes.FRACTURE_ICD10_PREFIXES.get(code[:5])
        return (site, False) if site else None
    if system == codes.SNOMED and code in codes.FRACTURE_SNOMED:
        return codes.FRACTURE_SNOMED[code], False
    return None


def map_conditions(ctx: Context) -> tuple[list[Diagnosis], list[FractureRecord]]:
    diagnoses: list[Diagnosis] = []
    records: list[FractureRecord] = []
    for resource in ctx.pool.of_type("Condition"):
        matched: list[tuple[str, str, str | None]] = [
            c for c in codings(resource.get("code")) if c[0] in codes.CONDITION_SYSTEMS
        ]
        if not matched:
            continue
        kinds: dict[DiagnosisKind, tuple[str, str, str | None]] = {}
        fracture: tuple[str, bool, str, str, str | None] | None = None
        for system, code, display in matched:
            for kind, members in _DIAGNOSIS_SETS:
                if (system, code) in members and kind not in kinds:
                    kinds[kind] = (system, code, display)
            found = _fracture_kind(system, code)
            if found is not None and (
                fracture is None
                or (found[1] and not fracture[1])
                or (fracture[0] == "unspecified" and found[0] != "unspecified")
            ):
                fracture = (
                    found[0],
                    found[1] or bool(fracture and fracture[1]),
                    system,
                    code,
                    display,
                )
        if not kinds and fracture is None:
            continue
        reference = reference_of(resource)
        when, age, malformed = _onset(resource, ctx.birth_date)
        ok, when = ctx.usable_date(when, malformed, reference, "Condition", required=False)
        if not ok:
            continue
        status = _clinical_status(resource)
        for kind, (system, code, display) in kinds.items():
            diagnoses.append(
                Diagnosis(kind, system, code, Provenance(reference, when, display), status)
            )
        if fracture is not None:
            site, osteoporotic, system, code, display = fracture
            records.append(
                FractureRecord(
                    FractureSite(site),
                    osteoporotic,
                    when,
                    age,
                    system,
                    code,
                    Provenance(reference, when, display),
                )
            )
    return diagnoses, records
