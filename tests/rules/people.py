"""Patients of a given age on the evaluation date, and dates relative to it."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from cds_service.guideline.dates import add_months

from . import fhir_builders as fb
from .conftest import AS_OF


def months_ago(months: int) -> date:
    return add_months(AS_OF, -months)


def days_ago(days: int) -> date:
    return AS_OF - timedelta(days=days)


def born(age: int, days_past_birthday: int = 30) -> date:
    """A birth date giving ``age`` completed years on AS_OF."""
    return add_months(AS_OF, -12 * age) - timedelta(days=days_past_birthday)


def woman(pid: str, age: int | None = 62) -> dict[str, Any]:
    return fb.patient(pid, born(age) if age is not None else None, "female")


def man(pid: str, age: int | None = 70) -> dict[str, Any]:
    return fb.patient(pid, born(age) if age is not None else None, "male")


LAST_MONTH = months_ago(1)
