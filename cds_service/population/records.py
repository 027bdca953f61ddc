"""One NDJSON line → whose it is: a patient's resource, reference data, or a reject.

Pure functions shared by the Spark job and the single-process loop of the benchmark.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import cache

import orjson

from cds_service.discovery import service_definitions
from fhir_mappings.bundle import SUBJECT_FIELDS, relative_reference

PATIENT_VIEW = "patient-view"
# Types the engine resolves by reference rather than finding in the patient's compartment.
REFERENCE_DATA_TYPES = frozenset({"Medication"})
_TEMPLATE_TYPE = re.compile(r"^([A-Z][A-Za-z]+)(?:[/?]|$)")
_EXAMPLE_CHARS = 300


class RejectKind(StrEnum):
    MALFORMED_LINE = "malformed-line"
    NOT_A_RESOURCE = "not-a-resource"
    NO_PATIENT = "resource-without-patient"
    NO_PATIENT_RESOURCE = "no-patient-resource"
    EVALUATION_FAILED = "evaluation-failed"


@cache
def prefetch_types() -> frozenset[str]:
    """Resource types the patient-view prefetch templates ask for (Patient included).

    Derived from the service definitions, so a type added to a template is read here too.
    """
    types = {"Patient"}
    for service in service_definitions():
        if service.hook != PATIENT_VIEW:
            continue
        for template in service.prefetch.values():
            match = _TEMPLATE_TYPE.match(template)
            if match:
                types.add(match.group(1))
    return frozenset(types)


@dataclass(frozen=True, slots=True)
class Routed:
    """Where one line goes: ``patient_id`` set for a patient's resource, ``reject`` for bad
    input, neither for a resource the rules never read (``resource_type`` says which)."""

    patient_id: str | None = None
    resource_type: str | None = None
    reference_id: str | None = None  # "Medication/x" for reference data
    reject: RejectKind | None = None
    message: str = ""


def example_text(line: str | bytes) -> str:
    text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
    return text[:_EXAMPLE_CHARS]


def patient_reference(resource: dict) -> str | None:
    """The patient id a resource's ``subject`` or ``patient`` names, or None."""
    for name in SUBJECT_FIELDS:
        holder = resource.get(name)
        if not isinstance(holder, dict):
            continue
        ref = holder.get("reference")
        relative = relative_reference(ref) if isinstance(ref, str) else None
        if relative and relative.startswith("Patient/"):
            return relative.split("/", 1)[1]
    return None


def route(line: str | bytes) -> Routed | None:
    """Classify one NDJSON line; None for a blank line."""
    if not line.strip():
        return None
    try:
        resource = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return Routed(reject=RejectKind.MALFORMED_LINE, message=f"not JSON: {exc}")
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        return Routed(
            reject=RejectKind.NOT_A_RESOURCE, message="a JSON value without a resourceType"
        )
    rtype = resource["resourceType"]
    rid = resource.get("id")
    if rtype == "Patient":
        if isinstance(rid, str) and rid:
            return Routed(patient_id=rid, resource_type=rtype)
        return Routed(reject=RejectKind.NO_PATIENT, message="Patient resource without an id")
    if rtype in REFERENCE_DATA_TYPES:
        ref = f"{rtype}/{rid}" if isinstance(rid, str) and rid else None
        return Routed(resource_type=rtype, reference_id=ref)
    patient_id = patient_reference(resource)
    if rtype not in prefetch_types():
        return Routed(resource_type=rtype)  # not read by the rules: counted, not grouped
    if patient_id is None:
        fields = " or ".join(SUBJECT_FIELDS)
        return Routed(
            reject=RejectKind.NO_PATIENT,
            message=f"{rtype} without a {fields} reference to a Patient",
        )
    return Routed(patient_id=patient_id, resource_type=rtype)


def medication_references(resource: dict) -> list[str]:
    """``Medication/x`` references a medication resource makes (not contained ones)."""
    holder = resource.get("medicationReference")
    ref = holder.get("reference") if isinstance(holder, dict) else None
    if not isinstance(ref, str) or ref.startswith("#"):
        return []
    relative = relative_reference(ref)
    return [relative] if relative and relative.startswith("Medication/") else []
