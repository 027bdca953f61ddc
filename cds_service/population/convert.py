"""FHIR Bundles (Synthea's transaction Bundles) and resource folders (eCQM test decks) →
FHIR Bulk Data NDJSON: one ``Type.ndjson`` per resource type, references made relative.

Bundles link their entries by ``fullUrl`` (``urn:uuid:…`` in Synthea); a Bulk export links
resources by ``Type/id``, so every reference to a Bundle entry is rewritten to that form.
"""

from __future__ import annotations

import gzip
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any

import orjson

from .records import patient_reference

JSON_SUFFIXES = (".json", ".json.gz")


class ConversionError(ValueError):
    """An input that cannot be read as FHIR JSON (the message names the file)."""


def _json_files(inputs: Iterable[Path]) -> Iterator[Path]:
    for path in inputs:
        if path.is_dir():
            yield from sorted(
                p for p in path.rglob("*") if p.is_file() and p.name.endswith(JSON_SUFFIXES)
            )
        elif path.is_file():
            yield path
        else:
            raise ConversionError(f"{path}: no such file or directory")


def _load(path: Path) -> Any:
    try:
        raw = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
        return orjson.loads(raw)
    except (OSError, EOFError, orjson.JSONDecodeError) as exc:
        raise ConversionError(f"{path}: not readable JSON ({exc})") from None


def _rewrite(value: Any, links: dict[str, str]) -> Any:
    """A copy of ``value`` whose ``reference`` strings naming a Bundle entry are ``Type/id``."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key == "reference" and isinstance(item, str) and item in links:
                out[key] = links[item]
            else:
                out[key] = _rewrite(item, links)
        return out
    if isinstance(value, list):
        return [_rewrite(item, links) for item in value]
    return value


def resources_of(document: Any, path: Path) -> Iterator[dict[str, Any]]:
    """The resources of one file: a Bundle's entries (nested Bundles opened), or the file's
    own resource."""
    if not isinstance(document, dict) or not isinstance(document.get("resourceType"), str):
        raise ConversionError(f"{path}: not a FHIR resource (no resourceType)")
    if document["resourceType"] != "Bundle":
        yield document
        return
    entries = [e for e in document.get("entry") or [] if isinstance(e, dict)]
    links: dict[str, str] = {}
    for entry in entries:
        resource = entry.get("resource")
        full_url = entry.get("fullUrl")
        if not isinstance(resource, dict) or not isinstance(full_url, str):
            continue
        rid = resource.get("id")
        if not isinstance(rid, str) and full_url.startswith("urn:uuid:"):
            resource["id"] = rid = full_url.removeprefix("urn:uuid:")
        if isinstance(rid, str) and isinstance(resource.get("resourceType"), str):
            links[full_url] = f"{resource['resourceType']}/{rid}"
    for entry in entries:
        resource = entry.get("resource")
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            continue
        if resource["resourceType"] == "Bundle":
            yield from resources_of(resource, path)
        else:
            yield _rewrite(resource, links) if links else resource


def convert_to_ndjson(
    inputs: Iterable[Path], out: Path, *, gzip_output: bool = False
) -> Counter[str]:
    """Write every resource once (first copy of a ``Type/id`` of a patient wins); counts per
    type."""
    out.mkdir(parents=True, exist_ok=True)
    sinks: dict[str, IO[bytes]] = {}
    seen: set[str] = set()
    counts: Counter[str] = Counter()
    with ExitStack() as files:
        for path in _json_files(inputs):
            for resource in resources_of(_load(path), path):
                rtype = resource["resourceType"]
                rid = resource.get("id")
                if isinstance(rid, str):
                    # Test decks reuse an id across patients: identity is per patient.
                    key = f"{rtype}/{rid}@{patient_reference(resource) or ''}"
                    if key in seen:
                        continue
                    seen.add(key)
                sink = sinks.get(rtype)
                if sink is None:
                    name = f"{rtype}.ndjson" + (".gz" if gzip_output else "")
                    target = out / name
                    if gzip_output:
                        sink = files.enter_context(gzip.open(target, "wb"))
                    else:
                        sink = files.enter_context(target.open("wb"))
                    sinks[rtype] = sink
                sink.write(orjson.dumps(resource) + b"\n")
                counts[rtype] += 1
    return counts
