"""The patient-view requests the benchmarks send.

Real data comes from Synthea fixtures loaded into the test FHIR server and fetched with the
service's own discovery prefetch templates, so a "prefetch" is exactly what a FHIR server
answers (searchset Bundles with fullUrl, meta and links). Generated patients scale the
Observation count from 10 to 10,000 with a fixed mix of codes.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import requests

from cds_service.discovery import find_service
from tests.support.fhir_server import SYNTHEA_FIXTURES, RunningFhirServer

SERVICE_ID = "osteopenia-management"
HOOK = "patient-view"
# Gustavo Olson: about 50 resources in the discovery prefetch, what a typical chart sends. He
# died in 2020 and the service cards no deceased patient, so his request leaves out the date
# of death (see as_if_alive): the workload measures a chart of that size that the rules read.
TYPICAL_BUNDLE = SYNTHEA_FIXTURES / "Gustavo_Olson_ccc11b20-cd0d-4197-8b25-6a01fce1372e.json"
LARGEST_BUNDLE = SYNTHEA_FIXTURES / "Hallie_Hoeger_62a0b57c-4129-43d9-b787-bcf7ad4fa654.json"
GENERATED_SIZES = (10, 100, 1_000, 10_000)
HTTP_OBSERVATION_COUNTS = (20, 105, 297)
# The resource types the service's prefetch templates read; "unfiltered" sends all of each.
UNFILTERED_TYPES = (
    "Condition",
    "MedicationRequest",
    "MedicationStatement",
    "Procedure",
    "ServiceRequest",
    "DiagnosticReport",
)


@dataclass(frozen=True)
class Workload:
    name: str
    patient_id: str
    body: bytes  # the JSON request, exactly as sent
    resources: int  # resources over all prefetch values
    observations: int
    as_of: date
    service_id: str = SERVICE_ID

    @property
    def request(self) -> dict[str, Any]:
        return json.loads(self.body)

    @property
    def path(self) -> str:
        return f"/cds-services/{self.service_id}"


def prefetch_templates() -> dict[str, str]:
    service = find_service(SERVICE_ID, HOOK)
    if service is None:
        raise RuntimeError(f"discovery has no {SERVICE_ID} service for {HOOK}")
    return dict(service.prefetch)


def hook_request(
    patient_id: str, prefetch: Mapping[str, Any] | None, *, fhir_server: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "hook": HOOK,
        "hookInstance": str(uuid.UUID(int=random.getrandbits(128), version=4)),
        "context": {"userId": "Practitioner/bench-1", "patientId": patient_id},
    }
    if fhir_server is not None:
        body["fhirServer"] = fhir_server
    if prefetch is not None:
        body["prefetch"] = dict(prefetch)
    return body


def _encode(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def _count(prefetch: Mapping[str, Any]) -> tuple[int, int]:
    resources = observations = 0
    for value in prefetch.values():
        if not isinstance(value, dict):
            continue
        items = (
            [e.get("resource", {}) for e in value.get("entry", [])]
            if value.get("resourceType") == "Bundle"
            else [value]
        )
        resources += len(items)
        observations += sum(1 for r in items if r.get("resourceType") == "Observation")
    return resources, observations


def _searchset(resources: list[dict[str, Any]], base_url: str = "urn:bench") -> dict[str, Any]:
    # fullUrls are opaque here: the mapping keys resources by type and id, not by URL.
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [
            {
                "fullUrl": f"{base_url}/{r['resourceType']}/{r['id']}",
                "resource": r,
                "search": {"mode": "match"},
            }
            for r in resources
        ],
    }


def _search_all(server: RunningFhirServer, query: str) -> list[dict[str, Any]]:
    url: str | None = f"{server.base_url}/{query}"
    resources: list[dict[str, Any]] = []
    while url:
        response = requests.get(url, timeout=30)
        response.raise_for_status()
        page = response.json()
        resources += [e["resource"] for e in page.get("entry", [])]
        url = next((ln["url"] for ln in page.get("link", []) if ln["relation"] == "next"), None)
    return resources


def fetch_prefetch(server: RunningFhirServer, patient_id: str) -> dict[str, Any]:
    """The prefetch an EHR would send: each discovery template, answered by the FHIR server."""
    prefetch: dict[str, Any] = {}
    for key, template in prefetch_templates().items():
        query = template.replace("{{context.patientId}}", patient_id)
        if "?" not in query:
            response = requests.get(f"{server.base_url}/{query}", timeout=30)
            response.raise_for_status()
            prefetch[key] = response.json()
        else:
            prefetch[key] = _searchset(_search_all(server, query), server.base_url)
    return prefetch


def as_if_alive(prefetch: dict[str, Any]) -> dict[str, Any]:
    """The prefetch with the Patient's deceased[x] removed (the request is evaluated today)."""
    for value in prefetch.values():
        if isinstance(value, dict) and value.get("resourceType") == "Patient":
            for key in [k for k in value if k.startswith("deceased")]:
                del value[key]
    return prefetch


def _observation_keys(templates: Mapping[str, str]) -> list[str]:
    return [k for k, t in templates.items() if t.startswith("Observation?")]


def _place_observations(
    prefetch: dict[str, Any], templates: Mapping[str, str], observations: list[dict[str, Any]]
) -> None:
    # All Observations travel under the first Observation key and the other Observation keys
    # are empty searchsets, so each resource is sent once.
    for index, key in enumerate(_observation_keys(templates)):
        prefetch[key] = _searchset(observations if index == 0 else [])


def unfiltered_prefetch(server: RunningFhirServer, patient_id: str) -> dict[str, Any]:
    """Every resource of every type the templates read, without their code filters."""
    templates = prefetch_templates()
    prefetch = fetch_prefetch(server, patient_id)
    for key, template in templates.items():
        resource_type = template.split("?", 1)[0]
        if resource_type in UNFILTERED_TYPES:
            prefetch[key] = _searchset(_search_all(server, f"{resource_type}?patient={patient_id}"))
    _place_observations(
        prefetch, templates, _search_all(server, f"Observation?patient={patient_id}")
    )
    return prefetch


def observation_sized_prefetch(
    server: RunningFhirServer, patient_id: str, observations: int
) -> dict[str, Any]:
    """The discovery prefetch with exactly ``observations`` Observations: the ones the
    templates select first, then the patient's most recent others."""
    templates = prefetch_templates()
    prefetch = fetch_prefetch(server, patient_id)
    relevant = [
        e["resource"] for key in _observation_keys(templates) for e in prefetch[key]["entry"]
    ]
    relevant_ids = {r["id"] for r in relevant}
    others = [
        o
        for o in _search_all(server, f"Observation?patient={patient_id}&_sort=-date")
        if o["id"] not in relevant_ids
    ]
    chosen = (relevant + others)[:observations]
    if len(chosen) < observations:
        raise ValueError(f"patient {patient_id} has fewer than {observations} Observations")
    _place_observations(prefetch, templates, chosen)
    return prefetch


def last_record_date(bundle_path: Path) -> date:
    """The last clinical date in a Synthea bundle while the patient lived: the benchmark
    evaluates "as of" then, so the rules speak (a deceased patient gets no cards)."""
    bundle = json.loads(bundle_path.read_text())
    dates = [
        e["resource"].get("effectiveDateTime", "")[:10]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Observation"
    ]
    last = date.fromisoformat(max(d for d in dates if d))
    patient = next(
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"
    )
    died = patient.get("deceasedDateTime")
    if isinstance(died, str):
        last = min(last, date.fromisoformat(died[:10]) - timedelta(days=1))
    return last


def synthea_workload(
    name: str,
    server: RunningFhirServer,
    patient_id: str,
    bundle_path: Path,
    *,
    unfiltered: bool = False,
    observation_limit: int | None = None,
    alive: bool = False,
) -> Workload:
    if observation_limit is not None:
        prefetch = observation_sized_prefetch(server, patient_id, observation_limit)
    elif unfiltered:
        prefetch = unfiltered_prefetch(server, patient_id)
    else:
        prefetch = fetch_prefetch(server, patient_id)
    if alive:
        prefetch = as_if_alive(prefetch)
    resources, observations = _count(prefetch)
    return Workload(
        name=name,
        patient_id=patient_id,
        body=_encode(hook_request(patient_id, prefetch)),
        resources=resources,
        observations=observations,
        as_of=last_record_date(bundle_path),
    )


# --- generated patients -------------------------------------------------------------------

LOINC = "http://loinc.org"
# (code, display, unit, low, high): most of a chart is vital signs and routine labs; a small,
# fixed share is bone health, so the rules' inputs grow with the chart as in real records.
ROUTINE_CODES = (
    ("8302-2", "Body Height", "cm", 150.0, 180.0),
    ("29463-7", "Body Weight", "kg", 45.0, 95.0),
    ("39156-5", "Body mass index", "kg/m2", 18.0, 35.0),
    ("8480-6", "Systolic blood pressure", "mm[Hg]", 100.0, 160.0),
    ("8462-4", "Diastolic blood pressure", "mm[Hg]", 60.0, 95.0),
    ("8867-4", "Heart rate", "/min", 55.0, 100.0),
    ("2339-0", "Glucose", "mg/dL", 70.0, 140.0),
    ("2160-0", "Creatinine", "mg/dL", 0.6, 1.3),
    ("17861-6", "Calcium", "mg/dL", 8.5, 10.5),
    ("2093-3", "Cholesterol", "mg/dL", 150.0, 260.0),
)
BONE_CODES = (
    ("38265-5", "DXA Femur [T-score] Bone density", "{T-score}", -3.2, -1.1),
    ("62292-8", "25-hydroxyvitamin D3+D2", "ng/mL", 12.0, 45.0),
)
SMOKING = ("72166-2", "Tobacco smoking status")
NEVER_SMOKER = {"system": "http://snomed.info/sct", "code": "266919005", "display": "Never smoker"}


def _observation(
    rng: random.Random, patient_id: str, index: int, when: date, code: tuple[Any, ...]
) -> dict[str, Any]:
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "id": f"gen-{patient_id}-{index}",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "laboratory" if index % 2 else "vital-signs",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": LOINC, "code": code[0], "display": code[1]}]},
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": f"{when.isoformat()}T09:30:00+00:00",
        "issued": f"{when.isoformat()}T12:00:00.000+00:00",
    }
    if code[0] == SMOKING[0]:
        obs["valueCodeableConcept"] = {"coding": [NEVER_SMOKER], "text": "Never smoker"}
    else:
        value = round(rng.uniform(code[3], code[4]), 2)
        obs["valueQuantity"] = {
            "value": value,
            "unit": code[2],
            "system": "http://unitsofmeasure.org",
            "code": code[2],
        }
    return obs


def generated_prefetch(observation_count: int, *, seed: int = 7) -> tuple[str, dict[str, Any]]:
    """A woman of 72 with ``observation_count`` Observations over 20 years."""
    rng = random.Random(seed * 100_003 + observation_count)
    patient_id = f"bench-{observation_count}"
    end = date(2024, 6, 1)
    span_days = 20 * 365
    observations = []
    for i in range(observation_count):
        when = end - timedelta(days=(i * span_days) // max(observation_count, 1))
        if i % 50 == 0:
            code: tuple[Any, ...] = BONE_CODES[0]
        elif i % 50 == 25:
            code = BONE_CODES[1]
        elif i % 20 == 10:
            code = SMOKING
        else:
            code = ROUTINE_CODES[i % len(ROUTINE_CODES)]
        observations.append(_observation(rng, patient_id, i, when, code))
    patient = {
        "resourceType": "Patient",
        "id": patient_id,
        "gender": "female",
        "birthDate": "1952-03-14",
        "name": [{"family": "Bench", "given": ["Generated"]}],
    }
    condition = {
        "resourceType": "Condition",
        "id": f"{patient_id}-osteopenia",
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    "code": "active",
                }
            ]
        },
        "verificationStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                    "code": "confirmed",
                }
            ]
        },
        "code": {
            "coding": [
                {"system": "http://snomed.info/sct", "code": "312894000", "display": "Osteopenia"}
            ]
        },
        "subject": {"reference": f"Patient/{patient_id}"},
        "onsetDateTime": "2019-05-02",
    }
    templates = prefetch_templates()
    prefetch: dict[str, Any] = {}
    observations_placed = False
    for key, template in templates.items():
        resource_type = template.split("?", 1)[0].split("/", 1)[0]
        if resource_type == "Patient":
            prefetch[key] = patient
        elif resource_type == "Observation":
            prefetch[key] = _searchset([] if observations_placed else observations)
            observations_placed = True
        elif resource_type == "Condition":
            prefetch[key] = _searchset([condition])
        else:
            prefetch[key] = _searchset([])
    return patient_id, prefetch


def generated_workload(observation_count: int) -> Workload:
    patient_id, prefetch = generated_prefetch(observation_count)
    resources, observations = _count(prefetch)
    return Workload(
        name=f"generated {observation_count:,} Observations",
        patient_id=patient_id,
        body=_encode(hook_request(patient_id, prefetch)),
        resources=resources,
        observations=observations,
        as_of=date(2024, 6, 1),
    )


# --- order-sign ----------------------------------------------------------------------------

ORDER_SIGN_SERVICE = "osteopenia-order-sign"


def order_sign_workload(patient_view: Workload) -> Workload:
    """The same chart at order-sign, with a typical ordering session: an oral bisphosphonate
    and a glucocorticoid from the CDS Hooks sandbox's list, and a DXA."""
    from tests.openapi.corpus import draft_orders

    request = patient_view.request
    request["hook"] = "order-sign"
    request["context"]["draftOrders"] = draft_orders(patient_view.patient_id)
    return Workload(
        name="order-sign, typical chart: 3 drafts",
        patient_id=patient_view.patient_id,
        body=_encode(request),
        resources=patient_view.resources,
        observations=patient_view.observations,
        as_of=patient_view.as_of,
        service_id=ORDER_SIGN_SERVICE,
    )
