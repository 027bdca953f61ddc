"""Small builders of FHIR R4 JSON for rule tests: each returns one resource as an EHR sends it."""

from __future__ import annotations

import itertools
from datetime import date
from typing import Any

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"

T_SCORE_CODES = {
    "lumbar spine": ("38267-1", "DXA Lumbar spine [T-score] Bone density"),
    "hip": ("38264-8", "DXA Hip [T-score] Bone density"),
    "hip right": ("80945-9", "DXA Hip - right [T-score] Bone density"),
    "hip left": ("80946-7", "DXA Hip - left [T-score] Bone density"),
    "femur": ("38263-0", "DXA Femur [T-score] Bone density"),
    "femur left": ("80948-3", "DXA Femur - left [T-score] Bone density"),
    "forearm": ("38265-5", "DXA Radius and Ulna [T-score] Bone density"),
    "calcaneus": ("38266-3", "DXA Calcaneus [T-score] Bone density"),
}
Z_SCORE_CODES = {
    "lumbar spine": ("85394-5", "DXA Lumbar spine [Z-score] Bone density"),
    "hip": ("80933-5", "DXA Hip [Z-score] Bone density"),
    "femur": ("80934-3", "DXA Femur [Z-score] Bone density"),
}

_ids = itertools.count(1)


def _id(prefix: str) -> str:
    return f"{prefix}-{next(_ids)}"


def patient(pid: str, birth: date | None, gender: str = "female") -> dict[str, Any]:
    resource: dict[str, Any] = {"resourceType": "Patient", "id": pid, "gender": gender}
    if birth is not None:
        resource["birthDate"] = birth.isoformat()
    return resource


def _observation(pid: str, code: str, display: str, when: date, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": extra.pop("id", None) or _id("obs"),
        "status": extra.pop("status", "final"),
        "code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": when.isoformat(),
        **extra,
    }


def t_score(pid: str, site: str, value: float, when: date, **extra: Any) -> dict[str, Any]:
    code, display = T_SCORE_CODES[site]
    quantity = {"value": value, "unit": "T-Score", "system": UCUM, "code": "1"}
    return _observation(pid, code, display, when, valueQuantity=quantity, **extra)


def z_score(pid: str, site: str, value: float, when: date, **extra: Any) -> dict[str, Any]:
    code, display = Z_SCORE_CODES[site]
    quantity = {"value": value, "unit": "Z-Score", "system": UCUM, "code": "1"}
    return _observation(pid, code, display, when, valueQuantity=quantity, **extra)


def vitamin_d(
    pid: str,
    value: float,
    when: date,
    unit: str = "ng/mL",
    comparator: str | None = None,
    code: str = "62292-8",
    **extra: Any,
) -> dict[str, Any]:
    quantity: dict[str, Any] = {"value": value, "unit": unit, "system": UCUM, "code": unit}
    if comparator:
        quantity["comparator"] = comparator
    display = "25-Hydroxyvitamin D2+25-Hydroxyvitamin D3 [Mass/volume] in Serum or Plasma"
    return _observation(pid, code, display, when, valueQuantity=quantity, **extra)


def frax(
    pid: str, kind: str, value: float, when: date, unit: str | None = "%", **extra: Any
) -> dict[str, Any]:
    code = "90265-0" if kind == "major" else "90266-8"
    display = (
        "Major osteoporotic fracture 10-year probability [Likelihood] Fracture Risk Assessment"
        if kind == "major"
        else "Hip fracture 10-year probability [Likelihood] Fracture Risk Assessment"
    )
    quantity: dict[str, Any] = {"value": value}
    if unit is not None:
        quantity.update({"unit": unit, "system": UCUM, "code": unit})
    return _observation(pid, code, display, when, valueQuantity=quantity, **extra)


def smoking(pid: str, answer: str, display: str, when: date) -> dict[str, Any]:
    concept = {"coding": [{"system": SNOMED, "code": answer, "display": display}]}
    return _observation(
        pid, "72166-2", "Tobacco smoking status", when, valueCodeableConcept=concept
    )


def drinks_per_day(pid: str, value: float, when: date) -> dict[str, Any]:
    quantity = {"value": value, "unit": "{drinks}/d", "system": UCUM, "code": "{drinks}/d"}
    return _observation(pid, "74013-4", "Alcoholic drinks per day", when, valueQuantity=quantity)


def condition(
    pid: str,
    system: str,
    code: str,
    display: str,
    onset: date | None,
    clinical: str = "active",
    verification: str = "confirmed",
    **extra: Any,
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Condition",
        "id": extra.pop("id", None) or _id("cond"),
        "clinicalStatus": {"coding": [{"system": CONDITION_CLINICAL, "code": clinical}]},
        "verificationStatus": {
            "coding": [{"system": CONDITION_VERIFICATION, "code": verification}]
        },
        "code": {"coding": [{"system": system, "code": code, "display": display}]},
        "subject": {"reference": f"Patient/{pid}"},
        **extra,
    }
    if onset is not None:
        resource["onsetDateTime"] = onset.isoformat()
    return resource


def medication_request(
    pid: str,
    code: str,
    display: str,
    start: date,
    end: date | None = None,
    status: str = "active",
    **extra: Any,
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": extra.pop("id", None) or _id("medrx"),
        "status": status,
        "intent": "order",
        "medicationCodeableConcept": {
            "coding": [{"system": RXNORM, "code": code, "display": display}],
            "text": display,
        },
        "subject": {"reference": f"Patient/{pid}"},
        "authoredOn": start.isoformat(),
        **extra,
    }
    if end is not None:
        resource["dispenseRequest"] = {
            "validityPeriod": {"start": start.isoformat(), "end": end.isoformat()}
        }
    return resource


def medication_statement(
    pid: str, code: str, display: str, start: date, end: date | None = None, status: str = "active"
) -> dict[str, Any]:
    period: dict[str, str] = {"start": start.isoformat()}
    if end is not None:
        period["end"] = end.isoformat()
    return {
        "resourceType": "MedicationStatement",
        "id": _id("medst"),
        "status": status,
        "medicationCodeableConcept": {
            "coding": [{"system": RXNORM, "code": code, "display": display}],
            "text": display,
        },
        "subject": {"reference": f"Patient/{pid}"},
        "effectivePeriod": period,
    }


def procedure_dxa(pid: str, when: date) -> dict[str, Any]:
    return {
        "resourceType": "Procedure",
        "id": _id("proc"),
        "status": "completed",
        "code": {
            "coding": [{"system": SNOMED, "code": "312681000", "display": "Bone density scan"}]
        },
        "subject": {"reference": f"Patient/{pid}"},
        "performedDateTime": when.isoformat(),
    }


def bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [
            {"fullUrl": f"urn:uuid:{r['resourceType']}-{r.get('id', i)}", "resource": r}
            for i, r in enumerate(resources)
        ],
    }


BONE_DENSITY_CODES = {code for code, _ in (*T_SCORE_CODES.values(), *Z_SCORE_CODES.values())}
LAB_CODES = {
    "98979-8", "62238-1", "33914-3", "2160-0", "38483-4", "29463-7", "17861-6", "49765-1",
    "2000-8", "1994-3", "1995-0", "17863-2", "1751-7",
}  # fmt: skip


def prefetch(patient_resource: dict[str, Any], *resources: dict[str, Any]) -> dict[str, Any]:
    """A prefetch as an EHR sends it for the service's templates (cds_service/services.json)."""
    keys = {
        "boneDensity": [],
        "riskFactors": [],
        "conditions": [],
        "medicationRequests": [],
        "medicationStatements": [],
        "medicationAdministrations": [],
        "labs": [],
        "dxaProcedures": [],
        "dxaOrders": [],
        "dxaReports": [],
    }
    by_type = {
        "Condition": "conditions",
        "MedicationRequest": "medicationRequests",
        "MedicationStatement": "medicationStatements",
        "MedicationAdministration": "medicationAdministrations",
        "Procedure": "dxaProcedures",
        "ServiceRequest": "dxaOrders",
        "DiagnosticReport": "dxaReports",
    }
    for resource in resources:
        kind = resource["resourceType"]
        if kind == "Observation":
            code = resource["code"]["coding"][0]["code"]
            if code in BONE_DENSITY_CODES:
                key = "boneDensity"
            elif code in LAB_CODES:
                key = "labs"
            else:
                key = "riskFactors"
        else:
            key = by_type[kind]
        keys[key].append(resource)
    result: dict[str, Any] = {"patient": patient_resource}
    for key, items in keys.items():
        result[key] = bundle(*items)
    return result


FRACTURE_DISPLAYS = {
    "S72.001A": "Fracture of unspecified part of neck of right femur, initial encounter",
    "S52.501A": "Unspecified fracture of the lower end of right radius, initial encounter",
    "S32.010A": "Wedge compression fracture of first lumbar vertebra, initial encounter",
}


def fracture(pid: str, icd10: str, onset: date) -> dict[str, Any]:
    """A fracture Condition (ICD-10-CM) with its onset date."""
    return condition(pid, ICD10, icd10, FRACTURE_DISPLAYS.get(icd10, "Fracture"), onset)


BMD_CODES = {
    ("lumbar spine", None): ("24966-4", "DXA Lumbar spine [Mass/Area] Bone density"),
    ("total hip", None): ("38261-4", "DXA Hip [Mass/Area] Bone density"),
    ("total hip", "right"): ("46279-6", "DXA Hip - right [Mass/Area] Bone density"),
    ("total hip", "left"): ("46278-8", "DXA Hip - left [Mass/Area] Bone density"),
    ("forearm", None): ("24890-6", "DXA Radius and Ulna [Mass/Area] Bone density"),
}


def bmd(
    pid: str, site: str, value: float, when: date, side: str | None = None, unit: str = "g/cm2"
) -> dict[str, Any]:
    """A DXA bone mineral density (g/cm²) at a site, LOINC as clinical-research.md §1.1."""
    code, display = BMD_CODES[(site, side)]
    quantity = {"value": value, "unit": unit, "system": UCUM, "code": unit}
    return _observation(pid, code, display, when, valueQuantity=quantity)


def body_mass_index(pid: str, value: float, when: date, unit: str = "kg/m2") -> dict[str, Any]:
    """A BMI (LOINC 39156-5, as the FHIR vital-signs BMI profile codes it)."""
    quantity = {"value": value, "unit": unit, "system": UCUM, "code": unit}
    return _observation(
        pid, "39156-5", "Body mass index (BMI) [Ratio]", when, valueQuantity=quantity
    )


def ost(pid: str, score: float, when: date) -> dict[str, Any]:
    """An Osteoporosis Self-Assessment Tool score (LOINC 98146-4, CMS249)."""
    quantity = {"value": score, "unit": "{score}", "system": UCUM, "code": "{score}"}
    return _observation(
        pid, "98146-4", "Osteoporosis Self-Assessment Tool", when, valueQuantity=quantity
    )
