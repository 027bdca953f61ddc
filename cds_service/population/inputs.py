"""The files of a Bulk Data export directory, and the resource type each one holds."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .records import REFERENCE_DATA_TYPES

SUFFIXES = (".ndjson", ".ndjson.gz", ".jsonl", ".jsonl.gz")
# $export names files after their type: Patient.ndjson, Observation.000.ndjson, Observation-2.ndjson
_TYPE_PREFIX = re.compile(r"^([A-Z][A-Za-z]+)")


class NoInput(ValueError):
    """The directory is missing, or holds no NDJSON file."""


@dataclass(frozen=True, slots=True)
class ExportFiles:
    all: tuple[Path, ...]
    reference_data: tuple[Path, ...]  # Medication files: joined to the orders that cite them


def list_export(directory: Path) -> ExportFiles:
    if not directory.is_dir():
        raise NoInput(f"{directory}: not a directory")
    files = sorted(
        p for p in directory.iterdir() if p.is_file() and p.name.lower().endswith(SUFFIXES)
    )
    if not files:
        raise NoInput(f"{directory}: no {', '.join(SUFFIXES)} file")
    reference = tuple(p for p in files if _file_type(p) in REFERENCE_DATA_TYPES)
    return ExportFiles(all=tuple(files), reference_data=reference)


def _file_type(path: Path) -> str | None:
    match = _TYPE_PREFIX.match(path.name)
    return match.group(1) if match else None
