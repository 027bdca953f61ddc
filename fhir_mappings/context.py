"""State shared by the mappers of one evaluation: notes, the evaluation date, the pool."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from .bundle import Pool
from .notes import Notes


@dataclass(slots=True)
class Context:
    pool: Pool
    as_of: date
    notes: Notes
    birth_date: date | None = None
    after_as_of: int = field(default=0)

    def usable_date(
        self, when: date | None, malformed: bool, reference: str, what: str, required: bool = True
    ) -> tuple[bool, date | None]:
        """Whether a fact with this date may be used, recording why not.

        A malformed date skips the fact; a missing one skips it when ``required``; a date after
        the evaluation date skips it (data entered later than the moment being evaluated).
        """
        if malformed and when is None:
            self.notes.add(f"{what}: unreadable date; not used", reference)
            return False, None
        if when is None:
            if required:
                self.notes.add(f"{what}: no date; not used", reference)
                return False, None
            return True, None
        if when > self.as_of:
            self.after_as_of += 1
            return False, None
        return True, when
