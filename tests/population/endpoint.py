"""The patient-view endpoint as the population tests call it: one patient, its own
resources prefetched as an EHR would (per template key, the resources of the key's type)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient

from cds_service.discovery import find_service

SERVICE_ID = "osteopenia-management"
Cards = set[tuple[str, str, str]]


def prefetch_for(entries: list[dict[str, Any]], included: list[dict[str, Any]]) -> dict[str, Any]:
    """Bundle entries (``{"resource": ..., "fullUrl": ...}``) of one patient → the prefetch of
    every template of the service; ``included`` resources (e.g. an ``_include``d Medication)
    go with the search of their referrer's type."""
    service = find_service(SERVICE_ID, "patient-view")
    assert service is not None
    prefetch: dict[str, Any] = {}
    for key, template in service.prefetch.items():
        rtype = template.split("?", 1)[0].split("/", 1)[0]
        of_type = [e for e in entries if e["resource"]["resourceType"] == rtype]
        if template.startswith("Patient/"):
            prefetch[key] = of_type[0]["resource"]
            continue
        if of_type and rtype == "MedicationRequest":
            of_type += [{"resource": r} for r in included]
        prefetch[key] = {"resourceType": "Bundle", "type": "searchset", "entry": of_type}
    return prefetch


def endpoint_cards(
    client: FlaskClient,
    monkeypatch: pytest.MonkeyPatch,
    as_of: date,
    patient_id: str,
    entries: list[dict[str, Any]],
    included: list[dict[str, Any]] = [],  # noqa: B006 - never mutated
) -> Cards:
    """(rule, indicator, summary) of every card patient-view returns on ``as_of``."""
    noon = datetime(as_of.year, as_of.month, as_of.day, 12, tzinfo=UTC)
    monkeypatch.setattr(client.application.extensions["governance"], "clock", lambda: noon)
    response = client.post(
        f"/cds-services/{SERVICE_ID}",
        json={
            "hook": "patient-view",
            "hookInstance": f"population-{patient_id}",
            "context": {"userId": "Practitioner/population", "patientId": patient_id},
            "prefetch": prefetch_for(entries, included),
        },
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return {
        (c["source"]["topic"]["code"], c["indicator"], c["summary"])
        for c in response.get_json()["cards"]
    }
