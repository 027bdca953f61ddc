"""The fall-back fetch end to end over real sockets: a CDS client posts patient-view to the
service on a loopback port with no prefetch, and the service reads the chart from the real
test FHIR server (Medplum's FHIR engine), following its paging.

The hook evaluates "today"; the Synthea record of the DXA patient ends in 2020, so today its
chart shows osteoporosis (T-score -2.57 in 2017) with an overdue DXA: foundational measures
(R2) and DXA monitoring (R6) are among the cards, whatever year the suite runs in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from flask import Flask

from cds_service.discovery import find_service
from tests.support.fhir_fixtures import (
    SYNTHEA_DXA_BUNDLE,
    SYNTHEA_DXA_PATIENT,
    SYNTHEA_NEGATIVE_BUNDLE,
    SYNTHEA_NEGATIVE_PATIENT,
)
from tests.support.fhir_server import SYNTHEA_FIXTURES, RunningFhirServer, start_fhir_server
from tests.support.service_thread import ServiceThread

pytestmark = pytest.mark.integration

SERVICE_ID = "osteopenia-management"
LARGE_BUNDLE = SYNTHEA_FIXTURES / "Hallie_Hoeger_62a0b57c-4129-43d9-b787-bcf7ad4fa654.json"
LARGE_PATIENT = "c34852c9-ffba-4bda-890a-eef4bc683e42"


def hook_request(patient_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "hook": "patient-view",
        "hookInstance": "0f8d7c1e-6b9a-4c52-8e0d-2f3a4b5c6d7e",
        "context": {"userId": "Practitioner/integration", "patientId": patient_id},
        **extra,
    }


def full_prefetch(server: RunningFhirServer, patient_id: str) -> dict[str, Any]:
    """What an EHR would prefetch: each discovery template, all pages, as one Bundle."""
    service = find_service(SERVICE_ID, "patient-view")
    assert service is not None
    prefetch: dict[str, Any] = {}
    for key, template in service.prefetch.items():
        url: str | None = (
            f"{server.base_url}/{template.replace('{{context.patientId}}', patient_id)}"
        )
        assert url is not None
        if "?" not in url:
            prefetch[key] = requests.get(url, timeout=30).json()
            continue
        entries: list[dict[str, Any]] = []
        while url:
            page = requests.get(url, timeout=30).json()
            entries += page.get("entry", [])
            url = next((ln["url"] for ln in page["link"] if ln["relation"] == "next"), None)
        prefetch[key] = {"resourceType": "Bundle", "type": "searchset", "entry": entries}
    return prefetch


def rules(cards: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return sorted((c["source"]["topic"]["code"], c["summary"]) for c in cards)


@pytest.fixture
def service(make_app: Callable[..., Flask]) -> Iterator[ServiceThread]:
    with ServiceThread(make_app()) as running:
        yield running


@pytest.fixture(scope="module")
def paged_server() -> Iterator[RunningFhirServer]:
    # Three resources a page: every search of the service spans several pages.
    with start_fhir_server([SYNTHEA_DXA_BUNDLE, SYNTHEA_NEGATIVE_BUNDLE], page_size=3) as server:
        yield server


def post(service: ServiceThread, body: dict[str, Any]) -> requests.Response:
    return requests.post(f"{service.url}/cds-services/{SERVICE_ID}", json=body, timeout=30)


def test_no_prefetch_with_fhir_server_gives_cards(
    service: ServiceThread, fhir_server: RunningFhirServer
) -> None:
    response = post(service, hook_request(SYNTHEA_DXA_PATIENT, fhirServer=fhir_server.base_url))
    assert response.status_code == 200, response.text
    cards = response.json()["cards"]
    codes = {c["source"]["topic"]["code"] for c in cards}
    assert {"R2", "R6"} <= codes
    assert all(c["source"]["topic"]["system"] == "urn:osteopenia-cds:rule" for c in cards)


def test_same_request_without_fhir_server_is_412(service: ServiceThread) -> None:
    response = post(service, hook_request(SYNTHEA_DXA_PATIENT))
    assert response.status_code == 412
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    missing = {issue["expression"][0] for issue in body["issue"]}
    service_definition = find_service(SERVICE_ID, "patient-view")
    assert service_definition is not None
    assert missing == {f"prefetch.{key}" for key in service_definition.prefetch}


def test_fetch_across_pages_gives_the_cards_of_a_full_prefetch(
    service: ServiceThread, paged_server: RunningFhirServer
) -> None:
    fetched = post(service, hook_request(SYNTHEA_DXA_PATIENT, fhirServer=paged_server.base_url))
    prefetched = post(
        service,
        hook_request(
            SYNTHEA_DXA_PATIENT, prefetch=full_prefetch(paged_server, SYNTHEA_DXA_PATIENT)
        ),
    )
    assert fetched.status_code == prefetched.status_code == 200
    assert rules(fetched.json()["cards"])
    assert rules(fetched.json()["cards"]) == rules(prefetched.json()["cards"])


def test_negative_control_over_http_has_no_cards(
    service: ServiceThread, paged_server: RunningFhirServer
) -> None:
    response = post(
        service, hook_request(SYNTHEA_NEGATIVE_PATIENT, fhirServer=paged_server.base_url)
    )
    assert response.status_code == 200
    assert response.json() == {"cards": []}


def test_search_longer_than_the_page_cap_is_412(make_app: Callable[..., Flask]) -> None:
    # 55 MedicationRequests at one a page, against a cap of 20 pages: the service must say
    # which prefetch it could not complete rather than decide on a truncated list.
    with (
        start_fhir_server([LARGE_BUNDLE], page_size=1) as server,
        ServiceThread(make_app(fhir_max_pages=20)) as service,
    ):
        assert server.patient_ids == (LARGE_PATIENT,)
        response = post(service, hook_request(LARGE_PATIENT, fhirServer=server.base_url))
    assert response.status_code == 412
    missing = {issue["expression"][0] for issue in response.json()["issue"]}
    assert "prefetch.medicationRequests" in missing
    assert "prefetch.patient" not in missing
