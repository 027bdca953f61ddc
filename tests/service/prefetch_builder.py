"""Build the prefetch an EHR would send from a patient's FHIR Bundle.

Each template of the service is evaluated the way a FHIR server would: a read returns the
resource, a search returns the resources of that type matching its ``code`` and ``status``
parameters. So the prefetch equals what the fall-back fetch would read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from cds_service.discovery import find_service


def _codings(resource: dict[str, Any]) -> set[str]:
    code = resource.get("code")
    if not isinstance(code, dict):
        return set()
    return {
        f"{c.get('system')}|{c.get('code')}" for c in code.get("coding", []) if isinstance(c, dict)
    }


def resources_of(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle.get("entry", []) if isinstance(e.get("resource"), dict)]


def evaluate_template(
    template: str, resources: list[dict[str, Any]], patient_id: str
) -> dict[str, Any] | None:
    rendered = template.replace("{{context.patientId}}", patient_id)
    path, _, query = rendered.partition("?")
    if "/" in path:
        resource_type, ident = path.split("/")
        for resource in resources:
            if resource["resourceType"] == resource_type and resource.get("id") == ident:
                return resource
        return None
    params = dict(parse_qsl(query))
    wanted_codes = set(params["code"].split(",")) if "code" in params else None
    wanted_status = set(params["status"].split(",")) if "status" in params else None
    matches = [
        r
        for r in resources
        if r["resourceType"] == path
        and (wanted_codes is None or _codings(r) & wanted_codes)
        and (wanted_status is None or r.get("status") in wanted_status)
    ]
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(matches),
        "entry": [
            {"fullUrl": f"{r['resourceType']}/{r.get('id')}", "resource": r} for r in matches
        ],
    }


def prefetch_for(bundle: dict[str, Any], patient_id: str) -> dict[str, Any]:
    service = find_service("osteopenia-management", "patient-view")
    assert service is not None
    resources = resources_of(bundle)
    return {
        key: evaluate_template(template, resources, patient_id)
        for key, template in service.prefetch.items()
    }


def patient_id_of(bundle: dict[str, Any]) -> str:
    for resource in resources_of(bundle):
        if resource["resourceType"] == "Patient":
            return str(resource["id"])
    raise ValueError("no Patient in bundle")


def load_bundle(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text("utf-8"))


def hook_request_for(bundle: dict[str, Any], hook_instance: str) -> dict[str, Any]:
    patient_id = patient_id_of(bundle)
    return {
        "hook": "patient-view",
        "hookInstance": hook_instance,
        "context": {"userId": "Practitioner/example", "patientId": patient_id},
        "prefetch": prefetch_for(bundle, patient_id),
    }
