"""The FHIR client on its own: deadline, size caps, headers."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import responses

from cds_service.fhir_client import (
    Deadline,
    FhirClient,
    FhirHttpError,
    FhirInvalidResponse,
    FhirResponseTooLarge,
    FhirTimeout,
)
from cds_service.settings import Settings
from tests.service.conftest import FHIR_BASE, TOKEN, searchset


@pytest.fixture
def client() -> Iterator[FhirClient]:
    fhir = FhirClient(Settings(fhir_max_response_bytes=4096, max_prefetch_entries=5))
    yield fhir
    fhir.close()


def test_a_passed_deadline_makes_no_call(client: FhirClient) -> None:
    deadline = Deadline(0.001)
    time.sleep(0.01)
    with responses.RequestsMock() as mock:
        with pytest.raises(FhirTimeout):
            client.fetch(FHIR_BASE, "Patient/1", access_token=None, deadline=deadline)
        assert not mock.calls


@responses.activate
def test_read_returns_the_resource_with_fhir_accept_header(client: FhirClient) -> None:
    responses.get(f"{FHIR_BASE}/Patient/1", json={"resourceType": "Patient", "id": "1"})
    patient = client.fetch(FHIR_BASE + "/", "Patient/1", access_token=TOKEN, deadline=Deadline(5))
    assert patient == {"resourceType": "Patient", "id": "1"}
    headers = responses.calls[0].request.headers
    assert headers["Accept"] == "application/fhir+json"
    assert headers["Authorization"] == f"Bearer {TOKEN}"


@responses.activate
def test_declared_content_length_over_the_cap_is_refused(client: FhirClient) -> None:
    responses.get(
        f"{FHIR_BASE}/Patient/1",
        body=b"{}",
        headers={"Content-Length": "999999"},
        auto_calculate_content_length=False,
    )
    with pytest.raises(FhirResponseTooLarge):
        client.fetch(FHIR_BASE, "Patient/1", access_token=None, deadline=Deadline(5))


@responses.activate
def test_too_many_entries_are_refused(client: FhirClient) -> None:
    bundle = searchset(*({"resourceType": "Condition", "id": str(i)} for i in range(6)))
    responses.get(f"{FHIR_BASE}/Condition", json=bundle)
    with pytest.raises(FhirResponseTooLarge):
        client.fetch(FHIR_BASE, "Condition?patient=1", access_token=None, deadline=Deadline(5))


@responses.activate
def test_a_page_that_is_not_a_bundle_is_refused(client: FhirClient) -> None:
    responses.get(
        f"{FHIR_BASE}/Condition",
        json=searchset(next_url="Condition?page=2"),
        match=[responses.matchers.query_param_matcher({"patient": "1"})],
    )
    responses.get(
        f"{FHIR_BASE}/Condition",
        json={"resourceType": "Patient"},
        match=[responses.matchers.query_param_matcher({"page": "2"})],
    )
    with pytest.raises(FhirInvalidResponse):
        client.fetch(FHIR_BASE, "Condition?patient=1", access_token=None, deadline=Deadline(5))


@responses.activate
def test_http_error_keeps_its_status(client: FhirClient) -> None:
    responses.get(f"{FHIR_BASE}/Patient/1", status=403)
    with pytest.raises(FhirHttpError) as exc:
        client.fetch(FHIR_BASE, "Patient/1", access_token=TOKEN, deadline=Deadline(5))
    assert exc.value.status == 403
    assert TOKEN not in str(exc.value)


def test_authorization_repr_hides_the_token() -> None:
    from cds_service.hook_request import FhirAuthorization

    auth = FhirAuthorization(TOKEN, "Bearer", 300, "patient/*.read", "me", None)
    assert TOKEN not in repr(auth)


@responses.activate
def test_the_byte_cap_is_shared_by_all_fetches_of_one_request(client: FhirClient) -> None:
    """Each answer fits the cap alone; together they exceed the request's budget."""
    padding = "x" * 1500
    for n in (1, 2, 3):
        responses.get(
            f"{FHIR_BASE}/Patient/{n}",
            json={"resourceType": "Patient", "id": str(n), "text": {"div": padding}},
        )
    deadline = Deadline(5, max_bytes=4096)
    client.fetch(FHIR_BASE, "Patient/1", access_token=None, deadline=deadline)
    client.fetch(FHIR_BASE, "Patient/2", access_token=None, deadline=deadline)
    with pytest.raises(FhirResponseTooLarge):
        client.fetch(FHIR_BASE, "Patient/3", access_token=None, deadline=deadline)
    # a request of its own starts with the whole budget again
    fresh = Deadline(5, max_bytes=4096)
    assert client.fetch(FHIR_BASE, "Patient/3", access_token=None, deadline=fresh)["id"] == "3"
