"""Age and sex from the Patient resource."""

from __future__ import annotations

from datetime import date

from .access import as_str
from .bundle import reference_of
from .context import Context
from .dates import parse_date
from .facts import Sex

_SEXES = {sex.value: sex for sex in Sex}


def map_patient(ctx: Context) -> tuple[date | None, Sex]:
    patient = ctx.pool.patient
    if patient is None:
        return None, Sex.UNKNOWN
    reference = reference_of(patient)
    raw = patient.get("birthDate")
    birth = parse_date(raw)
    if raw is None:
        ctx.notes.add("Patient has no birthDate: age-dependent rules cannot run", reference)
    elif birth is None:
        ctx.notes.add(f"Patient birthDate {str(raw)[:40]!r} is not a date", reference)
    elif birth > ctx.as_of:
        ctx.notes.add("Patient birthDate is after the evaluation date; not used", reference)
        birth = None
    gender = (as_str(patient.get("gender")) or "").strip().lower()
    return birth, _SEXES.get(gender, Sex.UNKNOWN)


def map_deceased(ctx: Context) -> bool:
    """deceasedBoolean true, or a deceasedDateTime on or before the evaluation date (a record
    evaluated as of an earlier date is of a living patient)."""
    patient = ctx.pool.patient
    if patient is None:
        return False
    if patient.get("deceasedBoolean") is True:
        return True
    died = parse_date(patient.get("deceasedDateTime"))
    return died is not None and died <= ctx.as_of
