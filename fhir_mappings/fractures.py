"""Fracture records → fracture events.

Initial, subsequent and sequela codes of one fracture (S72.001A / D / S), an M80 code beside the
S72 code of the same break, and SNOMED + ICD-10-CM double coding are one event: counting them as
several would invent "multiple fractures".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from . import codes
from .conditions import FractureRecord
from .facts import Fracture, FractureSite, Provenance

SAME_EVENT_DAYS = 180  # codes of one site within this span describe one fracture


def _split_icd(system: str, code: str) -> tuple[str, str | None]:
    """``S72.001A`` → ``("S72.001", "A")``; codes without a 7th character keep theirs."""
    if system == codes.ICD10CM and len(code.replace(".", "")) == 7:
        return code[:-1], code[-1]
    return code, None


@dataclass(slots=True, eq=False)
class _Event:
    site: FractureSite
    osteoporotic: bool
    onset: date | None
    age: float | None
    first: FractureRecord
    bases: set[tuple[str, str]] = field(default_factory=set)
    sources: list[Provenance] = field(default_factory=list)

    def close_to(self, when: date | None) -> bool:
        if when is None or self.onset is None:
            return True
        return abs(when - self.onset) <= timedelta(days=SAME_EVENT_DAYS)

    def absorb(self, record: FractureRecord, base: tuple[str, str]) -> None:
        self.osteoporotic = self.osteoporotic or record.osteoporotic
        if self.site is FractureSite.UNSPECIFIED:
            self.site = record.site
        if record.onset is not None and (self.onset is None or record.onset < self.onset):
            self.onset, self.age = record.onset, record.age_at_onset
        elif self.age is None:
            self.age = record.age_at_onset
        self.bases.add(base)
        self.sources.append(record.source)


def _find(candidates: list[_Event], onset: date | None, *, any_date: bool = False) -> _Event | None:
    """The event among ``candidates`` (ascending onset) that a record at ``onset`` belongs to.

    Records arrive in onset order, so the scan stops at the first event too old to match:
    merging stays linear however many Conditions a prefetch holds.
    """
    if not candidates:
        return None
    if any_date or onset is None:
        return candidates[-1] if any_date else candidates[0]
    window = timedelta(days=SAME_EVENT_DAYS)
    for event in reversed(candidates):
        if event.onset is None or abs(onset - event.onset) <= window:
            return event
        if event.onset < onset - window:
            break
    return None


_UNSITED = (FractureSite.OTHER, FractureSite.UNSPECIFIED)


def merge(records: list[FractureRecord]) -> list[Fracture]:
    ordered = sorted(records, key=lambda r: (r.onset or date.max, r.source.reference))
    events: list[_Event] = []
    by_base: dict[tuple[str, str], list[_Event]] = {}
    by_site: dict[FractureSite, list[_Event]] = {}
    unspecified: list[_Event] = []  # dated events without a site
    dated: list[_Event] = []
    for record in ordered:
        base_code, extension = _split_icd(record.system, record.code)
        base = (record.system, base_code)
        is_followup = extension is not None and extension not in codes.ICD10_INITIAL_ENCOUNTER
        target = _find(by_base.get(base, []), record.onset, any_date=is_followup)
        if target is None and record.site not in _UNSITED:
            target = _find(by_site.get(record.site, []), record.onset)
        if target is None and record.onset is not None:
            # "Osteoporotic fracture of bone" coded beside the site-specific break, either order
            pool = dated if record.site is FractureSite.UNSPECIFIED else unspecified
            target = _find(pool, record.onset)
            if target is not None and target.onset is None:
                target = None
        if target is None:
            target = _Event(
                record.site, record.osteoporotic, record.onset, record.age_at_onset, record
            )
            events.append(target)
            if record.site not in _UNSITED:
                by_site.setdefault(record.site, []).append(target)
            if record.onset is not None:
                dated.append(target)
                if record.site is FractureSite.UNSPECIFIED:
                    unspecified.append(target)
        elif target.site is FractureSite.UNSPECIFIED and record.site not in _UNSITED:
            by_site.setdefault(record.site, []).append(target)
        if base not in target.bases:
            by_base.setdefault(base, []).append(target)
        target.absorb(record, base)
    return [
        Fracture(
            site=event.site,
            osteoporotic_coded=event.osteoporotic,
            onset=event.onset,
            age_at_onset=event.age,
            system=event.first.system,
            code=event.first.code,
            source=event.first.source,
            sources=tuple(event.sources),
        )
        for event in events
    ]
