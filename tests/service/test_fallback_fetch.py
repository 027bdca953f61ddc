"""The fall-back fetch through the HTTP endpoint, against a FHIR server mocked by ``responses``:
what is missing is fetched (with the token), what is present or null is not, and every failure
becomes a 412 naming the prefetch keys that could not be obtained."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from flask.testing import FlaskClient

from tests.service.conftest import (
    FHIR_BASE,
    PATIENT_ID,
    SERVICE_URL,
    TOKEN,
    RecordingEngine,
    full_prefetch,
    hook_body,
    patient_resource,
    searchset,
)

AUTH = {
    "access_token": TOKEN,
    "token_type": "Bearer",
    "expires_in": 300,
    "scope": "patient/*.read",
    "subject": "osteopenia-cds",
}


def _without(*keys: str) -> dict[str, Any]:
    prefetch = full_prefetch()
    for key in keys:
        del prefetch[key]
    return prefetch


def _body(prefetch: dict[str, Any] | None, *, auth: bool = True, **extra: Any) -> dict[str, Any]:
    body = hook_body(prefetch=prefetch if prefetch is not None else ..., fhirServer=FHIR_BASE)
    if auth:
        body["fhirAuthorization"] = AUTH
    body.update(extra)
    return body


def _issues(response: Any) -> dict[str, str]:
    body = response.get_json()
    assert body["resourceType"] == "OperationOutcome"
    return {i["expression"][0]: i["diagnostics"] for i in body["issue"]}


CONDITION = {"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/pat-1"}}


@responses.activate
def test_req_061_missing_key_is_fetched_with_bearer_token(
    service_client: FlaskClient, engine: RecordingEngine
) -> None:
    """REQ-61: the service presents the access token to the FHIR server with each call."""
    responses.get(f"{FHIR_BASE}/Condition", json=searchset(CONDITION))
    response = service_client.post(SERVICE_URL, json=_body(_without("conditions")))
    assert response.status_code == 200
    assert len(responses.calls) == 1
    call = responses.calls[0]
    assert call.request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert parse_qs(urlsplit(call.request.url).query) == {"patient": [PATIENT_ID]}
    assert engine.calls[0]["prefetch"]["conditions"]["entry"][0]["resource"]["id"] == "c1"


@responses.activate
def test_fetch_without_fhir_authorization_sends_no_authorization_header(
    service_client: FlaskClient,
) -> None:
    """The CDS Hooks sandbox sends fhirServer without a token (open FHIR servers)."""
    responses.get(f"{FHIR_BASE}/Condition", json=searchset(CONDITION))
    response = service_client.post(SERVICE_URL, json=_body(_without("conditions"), auth=False))
    assert response.status_code == 200
    assert "Authorization" not in responses.calls[0].request.headers


@responses.activate
def test_no_prefetch_at_all_fetches_every_template(
    service_client: FlaskClient, engine: RecordingEngine
) -> None:
    responses.get(f"{FHIR_BASE}/Patient/{PATIENT_ID}", json=patient_resource())
    responses.get(re.compile(rf"{re.escape(FHIR_BASE)}/\w+\?.*"), json=searchset())
    response = service_client.post(SERVICE_URL, json=_body(None))
    assert response.status_code == 200
    prefetch = engine.calls[0]["prefetch"]
    assert set(prefetch) == set(full_prefetch())
    assert prefetch["patient"]["id"] == PATIENT_ID
    assert len(responses.calls) == len(full_prefetch())
    observation_codes = [
        parse_qs(urlsplit(c.request.url).query)["code"][0]
        for c in responses.calls
        if urlsplit(c.request.url).path.endswith("/Observation")
    ]
    assert any("http://loinc.org|38265-5" in codes for codes in observation_codes)


@responses.activate
def test_null_prefetch_means_no_data_and_is_not_fetched(
    service_client: FlaskClient, engine: RecordingEngine
) -> None:
    prefetch = full_prefetch()
    prefetch["conditions"] = None
    response = service_client.post(SERVICE_URL, json=_body(prefetch))
    assert response.status_code == 200
    assert len(responses.calls) == 0
    assert engine.calls[0]["prefetch"]["conditions"] is None


@responses.activate
def test_operation_outcome_in_prefetch_is_refetched(
    service_client: FlaskClient, engine: RecordingEngine
) -> None:
    prefetch = full_prefetch()
    prefetch["conditions"] = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "timeout", "diagnostics": "EHR timed out"}],
    }
    responses.get(f"{FHIR_BASE}/Condition", json=searchset(CONDITION))
    response = service_client.post(SERVICE_URL, json=_body(prefetch))
    assert response.status_code == 200
    assert engine.calls[0]["prefetch"]["conditions"]["resourceType"] == "Bundle"


def test_operation_outcome_without_fhir_server_is_412_with_client_reason(
    service_client: FlaskClient,
) -> None:
    prefetch = full_prefetch()
    prefetch["riskFactors"] = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "timeout", "diagnostics": "lab system down"}],
    }
    response = service_client.post(SERVICE_URL, json=hook_body(prefetch=prefetch))
    assert response.status_code == 412
    issues = _issues(response)
    assert set(issues) == {"prefetch.riskFactors"}
    assert "lab system down" in issues["prefetch.riskFactors"]


def test_req_054_missing_data_without_fhir_server_is_412_naming_keys(
    service_client: FlaskClient,
) -> None:
    """REQ-54: data unobtainable (no FHIR server, prefetch keys missing) → 412."""
    response = service_client.post(
        SERVICE_URL, json=hook_body(prefetch=_without("patient", "riskFactors"))
    )
    assert response.status_code == 412
    issues = _issues(response)
    assert set(issues) == {"prefetch.patient", "prefetch.riskFactors"}
    assert all("no fhirServer" in text for text in issues.values())


@pytest.mark.parametrize("status", [401, 403, 404, 500, 502, 503])
@responses.activate
def test_http_error_from_fhir_server_is_412(service_client: FlaskClient, status: int) -> None:
    responses.get(
        f"{FHIR_BASE}/Condition", status=status, json={"resourceType": "OperationOutcome"}
    )
    response = service_client.post(SERVICE_URL, json=_body(_without("conditions")))
    assert response.status_code == 412
    issues = _issues(response)
    assert set(issues) == {"prefetch.conditions"}
    assert f"HTTP {status}" in issues["prefetch.conditions"]
    assert TOKEN not in response.get_data(as_text=True)


@responses.activate
def test_timeout_is_412(service_client: FlaskClient) -> None:
    responses.get(f"{FHIR_BASE}/Condition", body=requests.ReadTimeout("read timed out"))
    response = service_client.post(SERVICE_URL, json=_body(_without("conditions")))
    assert response.status_code == 412
    assert "did not answer" in _issues(response)["prefetch.conditions"]


@responses.activate
def test_connection_refused_is_412(service_client: FlaskClient) -> None:
    responses.get(f"{FHIR_BASE}/Condition", body=requests.ConnectionError("refused"))
    response = service_client.post(SERVICE_URL, json=_body(_without("conditions")))
    assert response.status_code == 412
    assert "could not be reached" in _issues(response)["prefetch.conditions"]


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("<html>login</html>", "text/html"),
        ("{not json", "application/fhir+json"),
        ('{"hello": "world"}', "application/json"),
        ("[1, 2]", "application/json"),
        ('{"resourceType": "OperationOutcome", "issue": []}', "application/fhir+json"),
    ],
)
@responses.activate
def test_answer_that_is_not_fhir_json_is_412(
    service_client: FlaskClient, body: str, content_type: str
) -> None:
    responses.get(f"{FHIR_BASE}/Condition", body=body, content_type=content_type)
    response = service_client.post(SERVICE_URL, json=_body(_without("conditions")))
    assert response.status_code == 412
    assert set(_issues(response)) == {"prefetch.conditions"}


@responses.activate
def test_redirect_is_not_followed(service_client: FlaskClient) -> None:
    responses.get(
        f"{FHIR_BASE}/Condition",
        status=302,
        headers={"Location": "http://127.0.0.2:9/steal"},
    )
    response = service_client.post(SERVICE_URL, json=_body(_without("conditions")))
    assert response.status_code == 412
    assert len(responses.calls) == 1
    assert "redirect" in _issues(response)["prefetch.conditions"]


@responses.activate
def test_paging_absolute_next_links_are_followed(
    service_client: FlaskClient, engine: RecordingEngine
) -> None:
    """Every page is read, each with the token (REQ-61)."""
    page2 = f"{FHIR_BASE}/Condition?patient={PATIENT_ID}&_page=2"
    responses.get(
        f"{FHIR_BASE}/Condition?patient={PATIENT_ID}&_page=2",
        json=searchset({**CONDITION, "id": "c2"}),
        match=[responses.matchers.query_param_matcher({"patient": PATIENT_ID, "_page": "2"})],
    )
    responses.get(
        f"{FHIR_BASE}/Condition",
        json=searchset(CONDITION, next_url=page2),
        match=[responses.matchers.query_param_matcher({"patient": PATIENT_ID})],
    )
    response = service_client.post(SERVICE_URL, json=_body(_without("conditions")))
    assert response.status_code == 200
    pages = engine.calls[0]["prefetch"]["conditions"]
    assert [p["entry"][0]["resource"]["id"] for p in pages] == ["c1", "c2"]
    assert all(c.request.headers["Authorization"] == f"Bearer {TOKEN}" for c in responses.calls)


@pytest.mark.parametrize("relative", ["Condition?page=2", "/fhir/Condition?page=2"])
@responses.activate
def test_paging_relative_next_links_are_followed(
    service_client: FlaskClient, engine: RecordingEngine, relative: str
) -> None:
    responses.get(
        f"{FHIR_BASE}/Condition",
        json=searchset({**CONDITION, "id": "c2"}),
        match=[responses.matchers.query_param_matcher({"page": "2"})],
    )
    responses.get(
        f"{FHIR_BASE}/Condition",
        json=searchset(CONDITION, next_url=relative),
        match=[responses.matchers.query_param_matcher({"patient": PATIENT_ID})],
    )
    response = service_client.post(SERVICE_URL, json=_body(_without("conditions")))
    assert response.status_code == 200
    assert len(engine.calls[0]["prefetch"]["conditions"]) == 2


@responses.activate
def test_next_link_loop_is_412(service_client: FlaskClient) -> None:
    page1 = f"{FHIR_BASE}/Condition?patient={PATIENT_ID}"
    page2 = f"{FHIR_BASE}/Condition?patient={PATIENT_ID}&_page=2"
    responses.get(
        page2,
        json=searchset(CONDITION, next_url=page1),
        match=[responses.matchers.query_param_matcher({"patient": PATIENT_ID, "_page": "2"})],
    )
    responses.get(
        page1,
        json=searchset(CONDITION, next_url=page2),
        match=[responses.matchers.query_param_matcher({"patient": PATIENT_ID})],
    )
    response = service_client.post(SERVICE_URL, json=_body(_without("conditions")))
    assert response.status_code == 412
    assert "loop" in _issues(response)["prefetch.conditions"]
    assert len(responses.calls) == 2


@responses.activate
def test_next_link_to_itself_is_412(service_client: FlaskClient) -> None:
    url = f"{FHIR_BASE}/Condition?patient={PATIENT_ID}"
    responses.get(url, json=searchset(CONDITION, next_url=url))
    response = service_client.post(SERVICE_URL, json=_body(_without("conditions")))
    assert response.status_code == 412
    assert len(responses.calls) == 1


@responses.activate
def test_endless_distinct_pages_stop_at_the_page_cap(
    make_service_client: Callable[..., FlaskClient],
) -> None:
    client = make_service_client(fhir_max_pages=3)

    def page(request: Any) -> tuple[int, dict[str, str], str]:
        number = int(parse_qs(urlsplit(request.url).query).get("_page", ["1"])[0])
        bundle = searchset(CONDITION, next_url=f"Condition?_page={number + 1}")
        return 200, {"Content-Type": "application/fhir+json"}, json.dumps(bundle)

    responses.add_callback(responses.GET, re.compile(rf"{re.escape(FHIR_BASE)}/Condition.*"), page)
    response = client.post(SERVICE_URL, json=_body(_without("conditions")))
    assert response.status_code == 412
    assert "more than 3 pages" in _issues(response)["prefetch.conditions"]
    assert len(responses.calls) == 3


@responses.activate
def test_next_link_to_another_host_is_not_followed(service_client: FlaskClient) -> None:
    responses.get(
        f"{FHIR_BASE}/Condition",
        json=searchset(CONDITION, next_url="http://127.0.0.2:9/fhir/Condition?page=2"),
    )
    response = service_client.post(SERVICE_URL, json=_body(_without("conditions")))
    assert response.status_code == 412
    assert "away from the FHIR server" in _issues(response)["prefetch.conditions"]
    assert len(responses.calls) == 1


@responses.activate
def test_response_over_the_size_cap_is_412(
    make_service_client: Callable[..., FlaskClient],
) -> None:
    client = make_service_client(fhir_max_response_bytes=2048)
    big = searchset(*({**CONDITION, "id": f"c{i}"} for i in range(100)))
    responses.get(f"{FHIR_BASE}/Condition", json=big)
    response = client.post(SERVICE_URL, json=_body(_without("conditions")))
    assert response.status_code == 412
    assert "larger than" in _issues(response)["prefetch.conditions"]


@responses.activate
def test_several_failures_are_all_named(service_client: FlaskClient) -> None:
    responses.get(f"{FHIR_BASE}/Condition", status=500)
    responses.get(f"{FHIR_BASE}/MedicationRequest", status=401)
    responses.get(f"{FHIR_BASE}/Patient/{PATIENT_ID}", json=patient_resource())
    prefetch = _without("conditions", "medicationRequests", "patient")
    response = service_client.post(SERVICE_URL, json=_body(prefetch))
    assert response.status_code == 412
    assert set(_issues(response)) == {"prefetch.conditions", "prefetch.medicationRequests"}


@responses.activate
def test_fhir_server_off_the_allow_list_is_not_called(
    make_service_client: Callable[..., FlaskClient],
) -> None:
    client = make_service_client(fhir_servers=("http://127.0.0.1:10/fhir",))
    response = client.post(SERVICE_URL, json=_body(_without("conditions")))
    assert response.status_code == 412
    assert len(responses.calls) == 0
    assert "fhirServer" in _issues(response)["prefetch.conditions"]


@responses.activate
def test_fhir_server_on_the_allow_list_is_called(
    make_service_client: Callable[..., FlaskClient],
) -> None:
    client = make_service_client(fhir_servers=(FHIR_BASE,))
    responses.get(f"{FHIR_BASE}/Condition", json=searchset(CONDITION))
    response = client.post(SERVICE_URL, json=_body(_without("conditions")))
    assert response.status_code == 200


@responses.activate
def test_user_token_is_rendered_from_user_id(make_app: Callable[..., Any]) -> None:
    """A {{userPractitionerId}} template renders the id part of context.userId."""
    from cds_service.discovery import ServiceDefinition
    from cds_service.fhir_client import FhirClient
    from cds_service.hook_request import validate_hook_request
    from cds_service.hooks import complete_prefetch
    from cds_service.settings import Settings

    service = ServiceDefinition(
        "x", "patient-view", "t", "d", None, {"user": "Practitioner/{{userPractitionerId}}"}
    )
    responses.get(f"{FHIR_BASE}/Practitioner/dr-7", json={"resourceType": "Practitioner"})
    body = _body(None, context={"patientId": "p", "userId": "Practitioner/dr-7"})
    request = validate_hook_request(body, Settings())
    client = FhirClient(Settings())
    data = complete_prefetch(service, request, Settings(), client)
    assert data["user"]["resourceType"] == "Practitioner"


@responses.activate
def test_token_and_patient_id_never_reach_the_logs(
    service_client: FlaskClient, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture
) -> None:
    responses.get(f"{FHIR_BASE}/Condition", status=401)
    with caplog.at_level(logging.DEBUG):
        response = service_client.post(SERVICE_URL, json=_body(_without("conditions")))
    assert response.status_code == 412
    out, err = capfd.readouterr()
    logged = "\n".join(r.getMessage() for r in caplog.records) + out + err
    assert TOKEN not in logged
    assert PATIENT_ID not in logged


def _slow(seconds: float, body: dict[str, Any]) -> Callable[[Any], tuple[int, dict[str, str], str]]:
    def callback(request: Any) -> tuple[int, dict[str, str], str]:
        time.sleep(seconds)
        return 200, {"Content-Type": "application/fhir+json"}, json.dumps(body)

    return callback


@responses.activate
def test_answer_arriving_after_the_deadline_is_412(
    make_service_client: Callable[..., FlaskClient],
) -> None:
    """The total fetch deadline of a hook call holds even when each socket read is quick."""
    client = make_service_client(fetch_deadline_seconds=0.2)
    responses.add_callback(
        responses.GET, f"{FHIR_BASE}/Condition", callback=_slow(0.4, searchset(CONDITION))
    )
    response = client.post(SERVICE_URL, json=_body(_without("conditions")))
    assert response.status_code == 412
    assert "did not answer" in _issues(response)["prefetch.conditions"]


@responses.activate
def test_a_hanging_fetch_does_not_hold_the_answer(
    make_service_client: Callable[..., FlaskClient],
) -> None:
    """A fetch still running after the deadline (plus grace) is abandoned: 412, no hang."""
    client = make_service_client(fetch_deadline_seconds=0.1)
    responses.add_callback(
        responses.GET, f"{FHIR_BASE}/Condition", callback=_slow(1.6, searchset(CONDITION))
    )
    responses.get(f"{FHIR_BASE}/MedicationRequest", json=searchset())
    response = client.post(SERVICE_URL, json=_body(_without("conditions", "medicationRequests")))
    assert response.status_code == 412
    assert set(_issues(response)) == {"prefetch.conditions"}
    assert "did not answer" in _issues(response)["prefetch.conditions"]
