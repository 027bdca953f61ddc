"""The current glucocorticoid course (clinical-spec §0.1, §0.3): consecutive orders with gaps
under 30 days form one course; its dose in prednisone equivalents; replacement doses in adrenal
insufficiency, which are not a bone-loss drug."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from fhir_mappings.facts import DiagnosisKind, DrugClass, TherapyPeriod

from .assessment import Assessment
from .classification import current_diagnosis
from .therapy import episodes, merge


@dataclass(frozen=True, slots=True)
class Course:
    start: date
    end: date  # the last covered day; today or later while running
    expected_end: date  # the end the orders foresee (a validity period may run past today)
    current: TherapyPeriod  # the period covering the evaluation date (its dose is today's)
    ingredient: str
    periods: tuple[TherapyPeriod, ...]

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def expected_days(self) -> int:
        return (self.expected_end - self.start).days + 1

    @property
    def prednisone_mg(self) -> float | None:
        dose = self.current.dose
        return None if dose is None else dose.prednisone_mg_per_day


def _replacement_limit(a: Assessment, ingredient: str) -> float | None:
    th = a.thresholds
    return {
        "hydrocortisone": th.replacement_hydrocortisone_max_mg,
        "cortisone": th.replacement_cortisone_max_mg,
        "prednisone": th.replacement_prednisolone_max_mg,
        "prednisolone": th.replacement_prednisolone_max_mg,
    }.get(ingredient)


def is_replacement(a: Assessment, episode_ingredient: str, period: TherapyPeriod) -> bool:
    """Physiological replacement in adrenal insufficiency (clinical-spec §0.1)."""
    if not any(
        d.kind is DiagnosisKind.ADRENAL_INSUFFICIENCY and current_diagnosis(d, a.as_of)
        for d in a.facts.diagnoses
    ):
        return False
    limit = _replacement_limit(a, episode_ingredient)
    if limit is None:
        return False
    dose = period.dose
    if dose is None or dose.mg_per_day is None:
        # an unknown dose of hydrocortisone in adrenal insufficiency is replacement
        return episode_ingredient == "hydrocortisone"
    return dose.mg_per_day <= limit


def current_course(a: Assessment) -> Course | None:
    """The glucocorticoid course covering the evaluation date, replacement left out."""
    th = a.thresholds
    items: list[tuple[date, date, date, TherapyPeriod, str]] = []
    for episode in episodes(a.facts, {DrugClass.GLUCOCORTICOID}):
        for period in episode.periods:
            if period.start > a.as_of or is_replacement(a, episode.ingredient, period):
                continue
            foreseen = period.end if period.end is not None else a.as_of
            items.append(
                (period.start, min(foreseen, a.as_of), foreseen, period, episode.ingredient)
            )
    if not items:
        return None
    items.sort(key=lambda item: item[0])
    # Orders bridged by gaps shorter than the course gap are one course, as therapy spans are.
    start, end = merge(((i[0], i[1]) for i in items), th.glucocorticoid_course_gap_days)[-1]
    if end < a.as_of:
        return None  # the last course has ended
    course = [i for i in items if i[0] >= start]
    covering = [i for i in course if i[0] <= a.as_of <= i[2]]
    current = max(covering or course, key=lambda i: i[0])
    return Course(
        start=start,
        end=end,
        expected_end=max(i[2] for i in course),
        current=current[3],
        ingredient=current[4],
        periods=tuple(i[3] for i in course),
    )


def high_dose_days(a: Assessment, course: Course, mg: float) -> int:
    """Days of the course at ``mg`` or more prednisone equivalents (known doses only)."""
    days = 0
    for period in course.periods:
        dose = period.dose
        if dose is None or dose.prednisone_mg_per_day is None:
            continue
        if dose.prednisone_mg_per_day >= mg:
            end = min(period.end or a.as_of, a.as_of)
            days += max((end - period.start).days + 1, 0)
    return days


def cumulative_g_last_year(a: Assessment, course: Course) -> float:
    since = a.as_of - timedelta(days=365)
    total = 0.0
    for period in course.periods:
        dose = period.dose
        if dose is None or dose.prednisone_mg_per_day is None:
            continue
        start = max(period.start, since)
        end = min(period.end or a.as_of, a.as_of)
        if end >= start:
            total += dose.prednisone_mg_per_day * ((end - start).days + 1)
    return total / 1000
