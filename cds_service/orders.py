"""Draft FHIR R4 orders offered as card suggestions.

Each template is built with the ``fhir.resources.R4B`` models and validated once per process;
a request only copies the validated JSON and fills in the patient, so suggestions cost
microseconds. A drug draft is coded with the product of ``orderables.json``: its RxNorm clinical
drug (SCD), checked against a public record, then its ingredient.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any

import orjson
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.servicerequest import ServiceRequest

from cds_service.guideline.recommendation import OrderKind, Reason
from cds_service.orderables import orderables

LOINC = "http://loinc.org"
CPT = "http://www.ama-assn.org/go/cpt"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_PLACEHOLDER = "Patient/template"
_CONDITION_REFERENCE = re.compile(r"^Condition/[A-Za-z0-9\-.]{1,64}$")


def _timing(frequency: int, period: float, unit: str) -> dict[str, Any]:
    return {"repeat": {"frequency": frequency, "period": period, "periodUnit": unit}}


def _dose(value: float, unit: str, code: str) -> list[dict[str, Any]]:
    return [{"doseQuantity": {"value": value, "unit": unit, "system": UCUM, "code": code}}]


def _medication_request(product: str, dosage: dict[str, Any], note: str) -> dict[str, Any]:
    orderable = orderables()[product]
    return {
        "resourceType": "MedicationRequest",
        "status": "draft",
        "intent": "proposal",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/medicationrequest-category",
                        "code": "outpatient",
                        "display": "Outpatient",
                    }
                ]
            }
        ],
        "medicationCodeableConcept": {"coding": orderable.codings(), "text": orderable.text},
        "subject": {"reference": _PLACEHOLDER},
        "dosageInstruction": [dosage],
        "note": [{"text": note}],
    }


def _service_request(codings: list[dict[str, str]], text: str, note: str) -> dict[str, Any]:
    return {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "proposal",
        "code": {"coding": codings, "text": text},
        "subject": {"reference": _PLACEHOLDER},
        "note": [{"text": note}],
    }


def _alendronate() -> dict[str, Any]:
    return _medication_request(
        "alendronate",
        {
            "text": "70 mg by mouth once weekly, on waking with a full glass of plain water, "
            "at least 30 minutes before food; stay upright for 30 minutes",
            "timing": _timing(1, 1, "wk"),
            "route": {"text": "oral"},
            "doseAndRate": _dose(70, "mg", "mg"),
        },
        "First-line oral bisphosphonate for fracture risk reduction (ACP 2023).",
    )


def _risedronate() -> dict[str, Any]:
    return _medication_request(
        "risedronate",
        {
            "text": "35 mg by mouth once weekly, on waking with a full glass of plain water, "
            "at least 30 minutes before food; stay upright for 30 minutes",
            "timing": _timing(1, 1, "wk"),
            "route": {"text": "oral"},
            "doseAndRate": _dose(35, "mg", "mg"),
        },
        "First-line oral bisphosphonate for fracture risk reduction (ACP 2023).",
    )


def _cholecalciferol() -> dict[str, Any]:
    return _medication_request(
        "cholecalciferol_800",
        {
            "text": "800 IU by mouth once daily",
            "timing": _timing(1, 1, "d"),
            "route": {"text": "oral"},
            "doseAndRate": _dose(800, "IU", "[IU]"),
        },
        "Vitamin D supplement for bone health; target 25(OH)D at or above the configured goal.",
    )


def _calcium() -> dict[str, Any]:
    # One chewable tablet of calcium carbonate 1,000 mg, which holds 400 mg elemental calcium:
    # the dose is the tablet, so the salt's weight and the elemental weight are never read as
    # one.
    return _medication_request(
        "calcium_carbonate",
        {
            "text": "Chew 1 tablet once daily with a meal, only if dietary calcium is below "
            "the recommended total intake",
            "timing": _timing(1, 1, "d"),
            "route": {"text": "oral"},
            "doseAndRate": [
                {
                    "doseQuantity": {
                        "value": 1,
                        "unit": "tablet",
                        "system": UCUM,
                        "code": "{tbl}",
                    }
                }
            ],
        },
        "Calcium supplement if dietary intake is below target, food first (IOM 2011).",
    )


def _dxa() -> dict[str, Any]:
    return _service_request(
        [
            {"system": CPT, "code": "77080", "display": "DXA bone density study, axial skeleton"},
            {
                "system": LOINC,
                "code": "38268-9",
                "display": "DXA Skeletal system Views for bone density",
            },
        ],
        "DXA bone density scan, lumbar spine and hip",
        "Bone density study: the reason is in reasonCode.",
    )


def _referral() -> dict[str, Any]:
    # SNOMED CT 306118006 "Referral to endocrinology service (procedure)": the same code and
    # display in several public terminology artefacts, one of them a checked replacement of a
    # wrong code (V2 in fhir_mappings/data terms); the text names the other services accepted.
    return _service_request(
        [
            {
                "system": SNOMED,
                "code": "306118006",
                "display": "Referral to endocrinology service (procedure)",
            }
        ],
        "Referral to an osteoporosis, fracture liaison or endocrinology service",
        "Very high fracture risk (AACE 2020): assessment for anabolic-first therapy or "
        "zoledronic acid.",
    )


def _vitamin_d_test() -> dict[str, Any]:
    return _service_request(
        [
            {
                "system": LOINC,
                "code": "62292-8",
                "display": "25-Hydroxyvitamin D2+25-Hydroxyvitamin D3 [Mass/volume] in Serum or "
                "Plasma",
            }
        ],
        "25-hydroxyvitamin D, serum",
        "Vitamin D status in low bone mass or vitamin D deficiency.",
    )


def _vitamin_d_repletion() -> dict[str, Any]:
    resource = _medication_request(
        "cholecalciferol_50000",
        {
            "text": "1 capsule (50,000 IU) by mouth once weekly for 8 weeks, then 1,500–2,000 IU "
            "daily (maintenance, ordered separately)",
            "timing": {
                "repeat": {
                    "frequency": 1,
                    "period": 1,
                    "periodUnit": "wk",
                    "boundsDuration": {
                        "value": 8,
                        "unit": "weeks",
                        "system": UCUM,
                        "code": "wk",
                    },
                }
            },
            "route": {"text": "oral"},
            "doseAndRate": _dose(50000, "IU", "[IU]"),
        },
        "Vitamin D repletion below 20 ng/mL (Endocrine Society 2011): 8 weekly doses; recheck "
        "25(OH)D after the course.",
    )
    resource["dispenseRequest"] = {"quantity": {"value": 8, "unit": "capsule"}}
    return resource


def _lab(code: str, display: str, text: str, note: str, cpt: str | None = None) -> dict:
    codings = [{"system": LOINC, "code": code, "display": display}]
    if cpt is not None:
        codings.append({"system": CPT, "code": cpt, "display": text})
    return _service_request(codings, text, note)


def _kidney_labs() -> list[dict[str, Any]]:
    return [
        _lab(
            "51990-0",
            "Basic metabolic panel - Blood",
            "Basic metabolic panel (creatinine, eGFR, calcium)",
            "Kidney function and calcium before a first dose of an osteoporosis drug "
            "(drug labels; KDIGO 2017).",
            cpt="80048",
        )
    ]


def _bone_mineral_labs() -> list[dict[str, Any]]:
    note = (
        "Bone and mineral work-up: osteomalacia (25(OH)D below 12 ng/mL) or CKD-mineral and "
        "bone disorder (KDIGO 2017)."
    )
    return [
        _lab("17861-6", "Calcium [Mass/volume] in Serum or Plasma", "Calcium, serum", note),
        _lab("2777-1", "Phosphate [Mass/volume] in Serum or Plasma", "Phosphate, serum", note),
        _lab(
            "6768-6",
            "Alkaline phosphatase [Enzymatic activity/volume] in Serum or Plasma",
            "Alkaline phosphatase, serum",
            note,
        ),
        _lab(
            "2731-8",
            "Parathyrin.intact [Mass/volume] in Serum or Plasma",
            "Parathyroid hormone (PTH), intact",
            note,
        ),
    ]


_BUILDERS: dict[OrderKind, tuple[Callable[[], Any], type, str]] = {
    OrderKind.ALENDRONATE: (_alendronate, MedicationRequest, "Order alendronate 70 mg weekly"),
    OrderKind.RISEDRONATE: (_risedronate, MedicationRequest, "Order risedronate 35 mg weekly"),
    OrderKind.CHOLECALCIFEROL: (
        _cholecalciferol,
        MedicationRequest,
        "Order vitamin D3 (cholecalciferol) 800 IU daily",
    ),
    OrderKind.CALCIUM: (
        _calcium,
        MedicationRequest,
        "Order calcium carbonate, 400 mg elemental daily, if diet falls short",
    ),
    OrderKind.DXA: (_dxa, ServiceRequest, "Order DXA bone density scan"),
    OrderKind.VITAMIN_D_TEST: (_vitamin_d_test, ServiceRequest, "Order 25-hydroxyvitamin D level"),
    OrderKind.VITAMIN_D_REPLETION: (
        _vitamin_d_repletion,
        MedicationRequest,
        "Order vitamin D3 50,000 IU weekly for 8 weeks (repletion)",
    ),
    OrderKind.KIDNEY_LABS: (
        _kidney_labs,
        ServiceRequest,
        "Order basic metabolic panel (kidney function, calcium)",
    ),
    OrderKind.BONE_MINERAL_LABS: (
        _bone_mineral_labs,
        ServiceRequest,
        "Order calcium, phosphate, alkaline phosphatase and PTH",
    ),
    OrderKind.REFERRAL: (_referral, ServiceRequest, "Refer to a bone health service"),
}


@cache
def _templates(kind: OrderKind) -> tuple[dict[str, Any], ...]:
    """The validated JSON of a draft order, or of each order of a set (validated once)."""
    build, model, _ = _BUILDERS[kind]
    built = build()
    resources = built if isinstance(built, list) else [built]
    return tuple(
        model.model_validate(resource).model_dump(mode="json", exclude_none=True)
        for resource in resources
    )


@cache
def _templates_json(kind: OrderKind) -> tuple[bytes, ...]:
    return tuple(orjson.dumps(template) for template in _templates(kind))


def validate_all_templates() -> None:
    """Build every template now, so a broken template stops start-up, not a request."""
    for kind in OrderKind:
        _templates(kind)


def order_label(kind: OrderKind) -> str:
    return _BUILDERS[kind][2]


def _reason_code(reason: Reason) -> dict[str, Any]:
    concept: dict[str, Any] = {"text": reason.text}
    if reason.system and reason.code:
        coding = {"system": reason.system, "code": reason.code}
        if reason.display:
            coding["display"] = reason.display
        concept["coding"] = [coding]
    return concept


@cache
def _validated_reason(reason: Reason) -> dict[str, Any]:
    """The reason as a validated CodeableConcept (once per distinct reason)."""
    probe = {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "proposal",
        "subject": {"reference": _PLACEHOLDER},
        "reasonCode": [_reason_code(reason)],
    }
    return ServiceRequest.model_validate(probe).model_dump(mode="json", exclude_none=True)[
        "reasonCode"
    ][0]


def draft_orders(
    kind: OrderKind, patient_id: str, reason: Reason | None = None
) -> list[dict[str, Any]]:
    """Fresh copies of the validated drafts of ``kind`` (one, or a set such as the bone and
    mineral labs), for ``Patient/<patient_id>``; a ServiceRequest carries ``reason`` as its
    reasonCode."""
    if not _FHIR_ID.match(patient_id):
        raise ValueError("patient id is not a valid FHIR id")
    # Parsing the template's serialized form builds every object afresh (nothing is shared
    # between requests) at a fraction of copy.deepcopy's cost.
    resources: list[dict[str, Any]] = [orjson.loads(raw) for raw in _templates_json(kind)]
    for resource in resources:
        resource["subject"] = {"reference": f"Patient/{patient_id}"}
        if reason is not None and resource["resourceType"] == "ServiceRequest":
            resource["reasonCode"] = [orjson.loads(orjson.dumps(_validated_reason(reason)))]
            if reason.condition and _CONDITION_REFERENCE.match(reason.condition):
                resource["reasonReference"] = [{"reference": reason.condition}]
    return resources


def draft_order(kind: OrderKind, patient_id: str, reason: Reason | None = None) -> dict[str, Any]:
    """The first (for most kinds the only) draft of ``kind``."""
    return draft_orders(kind, patient_id, reason)[0]
