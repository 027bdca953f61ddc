"""Pools every resource of a prefetch into one de-duplicated, hygiene-filtered set.

The mapping is key-agnostic: a prefetch value may be a searchset/transaction/collection
Bundle, a list of Bundles (pages), a single resource, or None. OperationOutcome entries are
dropped. Resources about another patient are dropped too: a prefetch can come from a
misconfigured template, and another patient's data must never reach a card.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .access import as_dict, as_list, as_str, codings, concept_status, status_code
from .notes import Notes

_HYGIENE = json.loads((Path(__file__).parent / "data" / "hygiene.json").read_text("utf-8"))
_IGNORED_ALL = frozenset(_HYGIENE["ignored_status"]["*"])
IGNORED_STATUS: dict[str, frozenset[str]] = {
    rtype: frozenset(statuses) | _IGNORED_ALL
    for rtype, statuses in _HYGIENE["ignored_status"].items()
    if rtype != "*"
}
REPLACING_STATUS = frozenset(_HYGIENE["replacing_status"])
IGNORED_VERIFICATION = frozenset(_HYGIENE["ignored_verification_status"])
SUBJECT_FIELDS = tuple(_HYGIENE["subject_fields"])

MAX_DEPTH = 4  # nested Bundles / lists of pages; deeper nesting is not a real prefetch shape
# A literal reference (``Type/id``, relative or absolute); the population job matches it in
# Spark SQL too, so that both agree on whose a resource is.
RELATIVE_REFERENCE = re.compile(
    r"([A-Z][A-Za-z]{1,63})/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]*)?$"
)
_TYPE = re.compile(r"^[A-Z][A-Za-z]{1,63}$")


def relative_reference(reference: str) -> str | None:
    """``Type/id`` of a relative or absolute literal reference."""
    match = RELATIVE_REFERENCE.search(reference)
    return f"{match.group(1)}/{match.group(2)}" if match else None


@dataclass(slots=True)
class Pool:
    """The patient's resources after de-duplication and data hygiene."""

    patient_id: str
    patient: dict[str, Any] | None = None
    by_type: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _index: dict[str, dict[str, Any]] = field(default_factory=dict)

    def of_type(self, resource_type: str) -> list[dict[str, Any]]:
        return self.by_type.get(resource_type, [])

    def resolve(
        self, reference: Any, container: Mapping[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """A referenced resource: contained (``#id``), bundled (fullUrl) or ``Type/id``."""
        ref = as_str(as_dict(reference).get("reference")) if isinstance(reference, dict) else None
        if ref is None:
            ref = as_str(reference)
        if not ref:
            return None
        if ref.startswith("#"):
            for item in as_list(as_dict(container).get("contained")):
                if isinstance(item, dict) and item.get("id") == ref[1:]:
                    return item
            return None
        found = self._index.get(ref)
        if found is None:
            relative = relative_reference(ref)
            found = self._index.get(relative) if relative else None
        return found


def reference_of(resource: Mapping[str, Any]) -> str:
    rid = resource.get("id")
    return f"{resource.get('resourceType')}/{rid if isinstance(rid, str) else '?'}"


class _Collector:
    def __init__(self, notes: Notes) -> None:
        self.notes = notes
        self.resources: dict[str, dict[str, Any]] = {}  # "Type/id" → resource
        self.anonymous: list[dict[str, Any]] = []  # resources without an id
        self.full_urls: dict[str, str] = {}  # fullUrl → "Type/id"
        self.valid_types: set[str] = set()  # resourceType values that passed the check

    def collect(self, value: Any, depth: int = 0) -> None:
        if value is None:
            return
        if depth > MAX_DEPTH:
            self.notes.add("Prefetch nested too deeply; inner part ignored")
            return
        if isinstance(value, list):
            for item in value:
                self.collect(item, depth + 1)
            return
        if not isinstance(value, dict):
            self.notes.add(f"Prefetch value of type {type(value).__name__} ignored")
            return
        rtype = value.get("resourceType")
        if rtype == "Bundle":
            for entry in as_list(value.get("entry")):
                if not isinstance(entry, dict):
                    continue
                resource = entry.get("resource")
                if isinstance(resource, dict) and resource.get("resourceType") == "Bundle":
                    self.collect(resource, depth + 1)
                elif isinstance(resource, dict):
                    self.add(resource, as_str(entry.get("fullUrl")))
            return
        if isinstance(rtype, str):
            self.add(value, None)
        else:
            self.notes.add("Prefetch value without a resourceType ignored")

    def add(self, resource: dict[str, Any], full_url: str | None) -> None:
        rtype = resource.get("resourceType")
        if not isinstance(rtype, str):
            return
        if rtype not in self.valid_types:  # a prefetch repeats a handful of types
            if not _TYPE.match(rtype) or rtype == "OperationOutcome":
                return
            self.valid_types.add(rtype)
        rid = resource.get("id")
        if not isinstance(rid, str) or not rid or len(rid) > 128:
            self.anonymous.append(resource)
            return
        key = f"{rtype}/{rid}"
        if full_url:
            self.full_urls[full_url] = key
        existing = self.resources.get(key)
        if existing is None or _preferred(resource, existing):
            self.resources[key] = resource


def _rank(resource: Mapping[str, Any]) -> tuple[int, str]:
    status = status_code(dict(resource))
    updated = as_str(as_dict(resource.get("meta")).get("lastUpdated")) or ""
    if status == "entered-in-error":
        return (2, updated)  # a retraction is final whichever copy arrived first
    return (1 if status in REPLACING_STATUS else 0, updated)


def _preferred(new: Mapping[str, Any], old: Mapping[str, Any]) -> bool:
    """Of two copies of one resource: a retraction, else the amended/corrected one, else the
    later update."""
    return _rank(new) > _rank(old)


class _SubjectCheck:
    """Does a resource point, through subject/patient, at a patient other than ours?

    Verdicts are remembered per reference string: a prefetch repeats one or two subject
    references across all its resources, and resolving one takes a regular expression.
    """

    def __init__(self, full_urls: Mapping[str, str], accepted: set[str]) -> None:
        self.full_urls = full_urls
        self.accepted = accepted
        self.verdicts: dict[str, bool] = {}

    def about_another_patient(self, resource: Mapping[str, Any]) -> bool:
        for name in SUBJECT_FIELDS:
            holder = resource.get(name)
            if not isinstance(holder, dict):
                continue
            ref = holder.get("reference")
            if not isinstance(ref, str) or not ref or ref.startswith("#"):
                continue
            verdict = self.verdicts.get(ref)
            if verdict is None:
                verdict = self.verdicts[ref] = self._other_patient(ref)
            if verdict:
                return True
        return False

    def _other_patient(self, ref: str) -> bool:
        relative = relative_reference(self.full_urls.get(ref, ref))
        return bool(
            relative
            and relative.startswith("Patient/")
            and relative.split("/", 1)[1] not in self.accepted
        )


def _observation_replacement_key(resource: Mapping[str, Any]) -> tuple[Any, ...] | None:
    codes = tuple(sorted((s, c) for s, c, _ in codings(resource.get("code"))))
    effective = resource.get("effectiveDateTime") or resource.get("effectiveInstant")
    if not isinstance(effective, str):
        effective = as_dict(resource.get("effectivePeriod")).get("start")
    if not codes or not isinstance(effective, str):
        return None
    return (codes, effective)


def build_pool(prefetch: Any, patient_id: str, notes: Notes) -> Pool:
    collector = _Collector(notes)
    if isinstance(prefetch, Mapping):
        for value in prefetch.values():
            collector.collect(value)
    elif prefetch is not None:
        notes.add("Prefetch is not an object; no data used")

    pool = Pool(patient_id=patient_id)
    resources = [*collector.resources.values(), *collector.anonymous]
    pool.patient = _choose_patient(resources, patient_id, notes)
    accepted = {patient_id}
    if pool.patient is not None and isinstance(pool.patient.get("id"), str):
        accepted.add(pool.patient["id"])

    other_patient = 0
    replaced_keys: set[tuple[Any, ...]] = set()
    kept: list[dict[str, Any]] = []
    subjects = _SubjectCheck(collector.full_urls, accepted)
    for resource in resources:
        if subjects.about_another_patient(resource):
            other_patient += 1
            continue
        status = status_code(resource)  # read once: hygiene and replacement both need it
        if not _passes_hygiene(resource, status):
            continue
        if resource["resourceType"] == "Observation" and status in REPLACING_STATUS:
            key = _observation_replacement_key(resource)
            if key is not None:
                replaced_keys.add(key)
        kept.append(resource)
    if other_patient:
        notes.add(f"{other_patient} resources about another patient ignored")

    for resource in kept:
        rtype = resource["resourceType"]
        if (
            rtype == "Observation"
            and replaced_keys
            and status_code(resource) not in REPLACING_STATUS
            and _observation_replacement_key(resource) in replaced_keys
        ):
            continue  # a final result that an amended/corrected one replaces
        pool.by_type.setdefault(rtype, []).append(resource)

    # Only resources that passed hygiene resolve: a panel member entered in error must not
    # come back through its panel.
    for resources_of_type in pool.by_type.values():
        for resource in resources_of_type:
            rid = resource.get("id")
            if isinstance(rid, str) and rid:
                pool._index[f"{resource['resourceType']}/{rid}"] = resource
    for url, key in collector.full_urls.items():
        if key in pool._index:
            pool._index[url] = pool._index[key]
    return pool


def _passes_hygiene(resource: dict[str, Any], status: str | None) -> bool:
    ignored = IGNORED_STATUS.get(resource["resourceType"], _IGNORED_ALL)
    if status in ignored:
        return False
    if resource["resourceType"] == "Condition":
        return not (concept_status(resource, "verificationStatus") & IGNORED_VERIFICATION)
    return True


def _choose_patient(
    resources: list[dict[str, Any]], patient_id: str, notes: Notes
) -> dict[str, Any] | None:
    patients = [r for r in resources if r.get("resourceType") == "Patient"]
    for patient in patients:
        if patient.get("id") == patient_id:
            return patient
    if len(patients) == 1:
        other = patients[0].get("id")
        notes.add(
            f"Patient resource id {other!r} differs from the context patient {patient_id!r}; "
            "using the only Patient in the data",
            reference=reference_of(patients[0]),
        )
        return patients[0]
    if patients:
        notes.add(f"{len(patients)} Patient resources, none with id {patient_id!r}; none used")
    else:
        notes.add("No Patient resource in the data: age and sex unknown")
    return None


def build_draft_pool(bundle: Any, patient_id: str, notes: Notes) -> Pool:
    """The resources of an order hook's ``draftOrders`` Bundle, indexed for references.

    Unlike ``build_pool`` no status hygiene applies: every entry is a draft on purpose.
    """
    collector = _Collector(notes)
    collector.collect(bundle)
    pool = Pool(patient_id=patient_id)
    for key, resource in collector.resources.items():
        pool.by_type.setdefault(resource["resourceType"], []).append(resource)
        pool._index[key] = resource
    for url, key in collector.full_urls.items():
        pool._index[url] = pool._index[key]
    return pool
