"""Calendar arithmetic for guideline intervals ("every 2 years", "within 1 year")."""

from __future__ import annotations

import calendar
from datetime import date


def add_months(day: date, months: int) -> date:
    """``day`` moved by whole months; the 31st becomes the month's last day when needed."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def add_years(day: date, years: float) -> date:
    """``day`` moved by ``years``; fractions of a year count in whole months (1.5 → 18)."""
    return add_months(day, round(years * 12))
