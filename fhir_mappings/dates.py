"""FHIR date, dateTime and instant strings → ``datetime.date``.

Partial dates (``2019``, ``2019-03``) mean their first day. A time part keeps the calendar
date as the sender wrote it: the clinically meaningful day is the local one, and converting
``2019-03-01T00:30:00+02:00`` to UTC would move it to the day before.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

_DATE = re.compile(
    r"^(\d{4})(?:-(\d{2})(?:-(\d{2})"
    r"(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?)?)?$"
)


def parse_date(value: Any) -> date | None:
    """Return the date of a FHIR date/dateTime/instant string, or None when it is not one."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    match = _DATE.match(value.strip())
    if match is None:
        return None
    year_s, month_s, day_s = match.groups()
    year = int(year_s)
    month = int(month_s) if month_s else 1
    day = int(day_s) if day_s else 1
    try:
        return date(year, month, day) if year >= 1 else None
    except ValueError:
        return None


def period_dates(value: Any) -> tuple[date | None, date | None, bool]:
    """``(start, end, malformed)`` of a FHIR Period; ``malformed`` when a present bound is bad."""
    if not isinstance(value, dict):
        return None, None, value is not None
    raw_start, raw_end = value.get("start"), value.get("end")
    start, end = parse_date(raw_start), parse_date(raw_end)
    malformed = (raw_start is not None and start is None) or (raw_end is not None and end is None)
    return start, end, malformed


def add_days(start: date, days: float) -> date | None:
    """``start + days``, or None when the result leaves the calendar (absurd durations)."""
    try:
        return start + timedelta(days=round(days))
    except (OverflowError, ValueError):
        return None


def years_between(earlier: date, later: date) -> float:
    """Age-style difference in years (fractional; 365.25-day years)."""
    return (later - earlier).days / 365.25
