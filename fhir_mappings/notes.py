"""Collects DataNotes with a cap, so a hostile or broken prefetch cannot flood the facts."""

from __future__ import annotations

from datetime import date

from .facts import DataNote, Provenance

MAX_NOTES = 100


class Notes:
    def __init__(self, limit: int = MAX_NOTES) -> None:
        self._notes: list[DataNote] = []
        self._limit = limit
        self._dropped = 0

    def add(self, message: str, reference: str | None = None, on: date | None = None) -> None:
        if len(self._notes) >= self._limit:
            self._dropped += 1
            return
        source = Provenance(reference, on) if reference else None
        self._notes.append(DataNote(message, source))

    def result(self) -> list[DataNote]:
        notes = list(self._notes)
        if self._dropped:
            notes.append(DataNote(f"{self._dropped} further data problems not listed"))
        return notes
