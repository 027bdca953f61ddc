"""The fall-back fetch against a real FHIR server (Medplum's FHIR engine, in memory) loaded
with Synthea patients: no prefetch plus fhirServer gives the same cards as a full prefetch."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.service.prefetch_builder import hook_request_for, load_bundle
from tests.support.fhir_fixtures import (
    SYNTHEA_DXA_BUNDLE,
    SYNTHEA_DXA_PATIENT,
    SYNTHEA_NEGATIVE_PATIENT,
)
from tests.support.fhir_server import RunningFhirServer, start_fhir_server

pytestmark = pytest.mark.integration

SERVICE_URL = "/cds-services/osteopenia-management"


@pytest.fixture
def engine_client(make_app: Any) -> FlaskClient:
    app: Flask = make_app()
    return app.test_client()


def _request(patient_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "hook": "patient-view",
        "hookInstance": "5b9e0a55-3f4c-4a52-9d43-8f1f1d9b6e21",
        "context": {"userId": "Practitioner/example", "patientId": patient_id},
        **extra,
    }


def _rules(body: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted((c["source"]["topic"]["code"], c["summary"]) for c in body["cards"])


def test_no_prefetch_with_fhir_server_returns_cards(
    engine_client: FlaskClient, fhir_server: RunningFhirServer
) -> None:
    response = engine_client.post(
        SERVICE_URL, json=_request(SYNTHEA_DXA_PATIENT, fhirServer=fhir_server.base_url)
    )
    assert response.status_code == 200, response.get_json()
    cards = response.get_json()["cards"]
    assert {c["source"]["topic"]["code"] for c in cards} >= {"R2", "R6"}


def test_same_request_without_fhir_server_is_412(engine_client: FlaskClient) -> None:
    response = engine_client.post(SERVICE_URL, json=_request(SYNTHEA_DXA_PATIENT))
    assert response.status_code == 412
    keys = {i["expression"][0] for i in response.get_json()["issue"]}
    assert "prefetch.patient" in keys and "prefetch.boneDensity" in keys


def test_fetched_data_gives_the_same_cards_as_prefetch(
    engine_client: FlaskClient, fhir_server: RunningFhirServer
) -> None:
    prefetched = engine_client.post(
        SERVICE_URL, json=hook_request_for(load_bundle(SYNTHEA_DXA_BUNDLE), "hi-prefetch")
    )
    fetched = engine_client.post(
        SERVICE_URL, json=_request(SYNTHEA_DXA_PATIENT, fhirServer=fhir_server.base_url)
    )
    assert prefetched.status_code == fetched.status_code == 200
    assert _rules(fetched.get_json()) == _rules(prefetched.get_json())


def test_partial_prefetch_is_completed_from_the_server(
    engine_client: FlaskClient, fhir_server: RunningFhirServer
) -> None:
    full = hook_request_for(load_bundle(SYNTHEA_DXA_BUNDLE), "hi-partial")
    partial = {key: full["prefetch"][key] for key in ("patient", "boneDensity")}
    partial["conditions"] = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "timeout"}],
    }
    response = engine_client.post(
        SERVICE_URL,
        json=_request(
            SYNTHEA_DXA_PATIENT,
            fhirServer=fhir_server.base_url,
            fhirAuthorization={
                "access_token": "opaque-test-token",
                "token_type": "Bearer",
                "expires_in": 300,
                "scope": "patient/*.read",
                "subject": "osteopenia-cds",
            },
            prefetch=partial,
        ),
    )
    assert response.status_code == 200
    assert _rules(response.get_json()) == _rules(
        engine_client.post(SERVICE_URL, json=full).get_json()
    )


def test_patient_without_bone_data_gets_no_cards(
    engine_client: FlaskClient, fhir_server: RunningFhirServer
) -> None:
    response = engine_client.post(
        SERVICE_URL, json=_request(SYNTHEA_NEGATIVE_PATIENT, fhirServer=fhir_server.base_url)
    )
    assert response.status_code == 200
    assert response.get_json() == {"cards": []}


def test_unknown_patient_is_412(engine_client: FlaskClient, fhir_server: RunningFhirServer) -> None:
    response = engine_client.post(
        SERVICE_URL, json=_request("no-such-patient", fhirServer=fhir_server.base_url)
    )
    assert response.status_code == 412
    issues = {i["expression"][0]: i["diagnostics"] for i in response.get_json()["issue"]}
    assert set(issues) == {"prefetch.patient"}
    assert "404" in issues["prefetch.patient"]


@pytest.fixture(scope="module")
def small_page_server() -> Iterator[RunningFhirServer]:
    with start_fhir_server([SYNTHEA_DXA_BUNDLE], page_size=2) as server:
        yield server


def test_paged_search_results_are_all_read(
    engine_client: FlaskClient, small_page_server: RunningFhirServer
) -> None:
    """With two resources a page the Condition search spans many pages; all are followed."""
    prefetched = engine_client.post(
        SERVICE_URL, json=hook_request_for(load_bundle(SYNTHEA_DXA_BUNDLE), "hi-pages")
    )
    fetched = engine_client.post(
        SERVICE_URL, json=_request(SYNTHEA_DXA_PATIENT, fhirServer=small_page_server.base_url)
    )
    assert fetched.status_code == 200, fetched.get_json()
    assert _rules(fetched.get_json()) == _rules(prefetched.get_json())
