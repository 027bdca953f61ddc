"""Inputs the fuzzers once found to break the service, kept as plain tests."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from flask import Flask

from tests.faults.fault_server import FaultyFhirServer
from tests.openapi.contract import shared_contract
from tests.openapi.corpus import SERVICE_URL


@pytest.fixture(scope="module")
def fhir() -> Iterator[FaultyFhirServer]:
    with FaultyFhirServer(read_timeout=0.5) as server:
        yield server


@pytest.mark.parametrize("token", ["t\u00f6k\u00e9n\u2603", "abc\ndef", "abc def", "\u0100"])
def test_access_token_that_cannot_go_in_a_header_is_400_not_500(
    make_app: Callable[..., Flask], fhir: FaultyFhirServer, token: str
) -> None:
    # Found by schemathesis: a non-Latin-1 token made http.client raise UnicodeEncodeError in
    # the fetch thread, which escaped as a 500.
    client = make_app(fhir_servers=(fhir.url("healthy"),)).test_client()
    response = client.post(
        SERVICE_URL,
        json={
            "hook": "patient-view",
            "hookInstance": str(uuid.uuid4()),
            "fhirServer": fhir.url("healthy"),
            "fhirAuthorization": {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": 300,
                "scope": "patient/*.read",
                "subject": "osteopenia-cds",
            },
            "context": {"patientId": "fault-patient", "userId": "Practitioner/1"},
        },
    )
    assert response.status_code == 400
    body = response.get_json()
    assert body["issue"][0]["expression"] == ["fhirAuthorization.access_token"]
    assert shared_contract().check_response("post", SERVICE_URL, 400, body) == []


@pytest.mark.parametrize("resource_type", [[], {}, ["MedicationRequest"], {"a": 1}])
def test_draft_order_whose_resource_type_is_not_a_string_is_400_not_500(
    make_app: Callable[..., Flask], fhir: FaultyFhirServer, resource_type: object
) -> None:
    # Found by the seeded mutation fuzzer: an unhashable resourceType in draftOrders made the
    # set-membership test raise TypeError, which escaped as a 500.
    client = make_app(fhir_servers=(fhir.url("healthy"),)).test_client()
    draft = {"resourceType": resource_type, "id": "d1", "status": "draft"}
    response = client.post(
        "/cds-services/osteopenia-order-select",
        json={
            "hook": "order-select",
            "hookInstance": str(uuid.uuid4()),
            "context": {
                "patientId": "p1",
                "userId": "Practitioner/1",
                "draftOrders": {
                    "resourceType": "Bundle",
                    "type": "collection",
                    "entry": [{"resource": draft}],
                },
                "selections": ["MedicationRequest/d1"],
            },
            "prefetch": {"patient": {"resourceType": "Patient", "id": "p1"}},
        },
    )
    assert response.status_code == 400
    body = response.get_json()
    assert body["issue"][0]["expression"] == ["context.draftOrders.entry[0].resource.resourceType"]
