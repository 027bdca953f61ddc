"""Which resources the population run reads, and how a resource names its patient.

The Spark job routes lines with Spark SQL over these definitions (``job.route_columns``);
the converter and the benchmark's single-process loop use the Python functions.
"""

from __future__ import annotations

import re
from enum import StrEnum
from functools import cache
from typing import Any

from cds_service.discovery import service_definitions
from fhir_mappings.bundle import SUBJECT_FIELDS, relative_reference

PATIENT_VIEW = "patient-view"
# Types the engine resolves by reference rather than finding in the patient's compartment.
REFERENCE_DATA_TYPES = frozenset({"Medication"})
_TEMPLATE_TYPE = re.compile(r"^([A-Z][A-Za-z]+)(?:[/?]|$)")
EXAMPLE_CHARS = 300


class RejectKind(StrEnum):
    MALFORMED_LINE = "malformed-line"
    NOT_A_RESOURCE = "not-a-resource"
    NO_PATIENT = "resource-without-patient"
    NO_PATIENT_RESOURCE = "no-patient-resource"
    EVALUATION_FAILED = "evaluation-failed"


REJECT_MESSAGES = {
    RejectKind.MALFORMED_LINE: "not JSON",
    RejectKind.NOT_A_RESOURCE: "JSON, but not a resource: no resourceType, not an object, or "
    "resourceType, id, subject or patient of the wrong JSON type",
    RejectKind.NO_PATIENT: f"a resource without a {' or '.join(SUBJECT_FIELDS)} reference "
    "to a Patient (or a Patient without an id)",
}


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


def patient_reference(resource: dict[str, Any]) -> str | None:
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


def patient_key(resource: dict[str, Any]) -> str | None:
    """The patient a resource the rules read belongs to; None when it is not one of those."""
    rtype = resource.get("resourceType")
    if rtype == "Patient":
        rid = resource.get("id")
        return rid if isinstance(rid, str) and rid else None
    return patient_reference(resource) if rtype in prefetch_types() else None


def medication_references(resource: dict[str, Any]) -> list[str]:
    """``Medication/x`` references a medication resource makes (not contained ones)."""
    holder = resource.get("medicationReference")
    ref = holder.get("reference") if isinstance(holder, dict) else None
    if not isinstance(ref, str) or ref.startswith("#"):
        return []
    relative = relative_reference(ref)
    return [relative] if relative and relative.startswith("Medication/") else []
