"""Small FHIR R4 JSON builders for the mapping tests (plain dicts, as an EHR sends them)."""

from __future__ import annotations

from datetime import date
from typing import Any

from fhir_mappings import build_facts
from fhir_mappings.facts import PatientFacts

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CPT = "http://www.ama-assn.org/go/cpt"

PID = "p1"
AS_OF = date(2025, 6, 1)


def concept(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    coding: dict[str, Any] = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


def patient(pid: str = PID, birth: str | None = "1955-04-10", gender: str = "female") -> dict:
    resource: dict[str, Any] = {"resourceType": "Patient", "id": pid, "gender": gender}
    if birth is not None:
        resource["birthDate"] = birth
    return resource


def observation(
    oid: str,
    code: str,
    value: Any = None,
    unit: str | None = None,
    *,
    when: str | None = "2024-03-02",
    status: str = "final",
    system: str = LOINC,
    **extra: Any,
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": oid,
        "status": status,
        "code": concept(system, code),
        "subject": {"reference": f"Patient/{PID}"},
    }
    if when is not None:
        resource["effectiveDateTime"] = when
    if value is not None:
        quantity: dict[str, Any] = {"value": value}
        if unit is not None:
            quantity.update({"unit": unit, "system": "http://unitsofmeasure.org", "code": unit})
        resource["valueQuantity"] = quantity
    resource.update(extra)
    return resource


def condition(
    cid: str,
    system: str,
    code: str,
    *,
    onset: str | None = "2020-01-01",
    verification: str | None = "confirmed",
    clinical: str | None = "active",
    **extra: Any,
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Condition",
        "id": cid,
        "code": concept(system, code),
        "subject": {"reference": f"Patient/{PID}"},
    }
    if onset is not None:
        resource["onsetDateTime"] = onset
    if verification:
        resource["verificationStatus"] = concept(
            "http://terminology.hl7.org/CodeSystem/condition-ver-status", verification
        )
    if clinical:
        resource["clinicalStatus"] = concept(
            "http://terminology.hl7.org/CodeSystem/condition-clinical", clinical
        )
    resource.update(extra)
    return resource


def med_request(
    mid: str,
    code: str | None = "904419",
    display: str | None = "Alendronic acid 10 MG Oral Tablet",
    *,
    status: str = "active",
    intent: str = "order",
    authored: str | None = "2020-01-15",
    **extra: Any,
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": mid,
        "status": status,
        "intent": intent,
        "subject": {"reference": f"Patient/{PID}"},
    }
    if code is not None or display is not None:
        med: dict[str, Any] = {}
        if code is not None:
            med = concept(RXNORM, code, display)
        if display is not None:
            med["text"] = display
        resource["medicationCodeableConcept"] = med
    if authored is not None:
        resource["authoredOn"] = authored
    resource.update(extra)
    return resource


def bundle(*resources: dict[str, Any], kind: str = "searchset") -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": kind,
        "entry": [{"fullUrl": f"urn:uuid:{r.get('id')}", "resource": r} for r in resources],
    }


def facts_of(
    *resources: dict[str, Any], as_of: date = AS_OF, with_patient: bool = True
) -> PatientFacts:
    items = [patient(), *resources] if with_patient else list(resources)
    return build_facts({"everything": bundle(*items)}, patient_id=PID, as_of=as_of)


def messages(facts: PatientFacts) -> str:
    return "\n".join(note.message for note in facts.notes)
