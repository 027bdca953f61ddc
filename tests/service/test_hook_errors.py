"""Every way a service call can be malformed gets a JSON 4xx that names the problem."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.service.conftest import SERVICE_URL, TOKEN, RecordingEngine, hook_body


def _issue(response: Any) -> dict[str, Any]:
    body = response.get_json()
    assert body["resourceType"] == "OperationOutcome", body
    assert body["issue"], body
    return body["issue"][0]


def _post(client: FlaskClient, body: Any, **kwargs: Any) -> Any:
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    kwargs.setdefault("content_type", "application/json")
    return client.post(SERVICE_URL, data=data, **kwargs)


def test_valid_request_answers_200_with_cards(
    service_client: FlaskClient, engine: RecordingEngine
) -> None:
    response = _post(service_client, hook_body())
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert len(response.get_json()["cards"]) == 1
    assert engine.calls[0]["patient_id"] == "pat-1"


def test_unknown_service_is_404(service_client: FlaskClient) -> None:
    response = service_client.post("/cds-services/no-such-service", json=hook_body())
    assert response.status_code == 404
    assert _issue(response)["code"] == "not-found"
    assert "no-such-service" in _issue(response)["diagnostics"]


def test_unknown_path_is_json_404(service_client: FlaskClient) -> None:
    response = service_client.get("/nowhere")
    assert response.status_code == 404
    assert _issue(response)["code"] == "not-found"


@pytest.mark.parametrize("method", ["get", "put", "delete", "patch"])
def test_wrong_method_is_405_with_json(service_client: FlaskClient, method: str) -> None:
    response = getattr(service_client, method)(SERVICE_URL)
    assert response.status_code == 405
    assert _issue(response)["code"] == "not-supported"
    assert "POST" in response.headers["Allow"]


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml", None]
)
def test_wrong_content_type_is_415(service_client: FlaskClient, content_type: str | None) -> None:
    kwargs = {"content_type": content_type} if content_type else {}
    response = service_client.post(SERVICE_URL, data=json.dumps(hook_body()), **kwargs)
    assert response.status_code == 415
    assert _issue(response)["expression"] == ["Content-Type"]


def test_content_type_with_charset_is_accepted(service_client: FlaskClient) -> None:
    response = _post(service_client, hook_body(), content_type="application/json; charset=utf-8")
    assert response.status_code == 200


def test_body_over_the_cap_is_413(make_service_client: Callable[..., FlaskClient]) -> None:
    client = make_service_client(max_body_bytes=2048)
    body = hook_body(extension={"x": "a" * 4096})
    response = _post(client, body)
    assert response.status_code == 413
    assert _issue(response)["code"] == "too-costly"


def test_chunked_body_over_the_cap_is_413(make_service_client: Callable[..., FlaskClient]) -> None:
    client = make_service_client(max_body_bytes=2048)
    payload = json.dumps(hook_body(extension={"x": "a" * 4096})).encode()
    response = client.post(
        SERVICE_URL,
        input_stream=io.BytesIO(payload),
        content_type="application/json",
        headers={"Transfer-Encoding": "chunked"},
        # What a WSGI server sets for a chunked body it has de-chunked: no Content-Length.
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("{", "not valid JSON"),
        ("", "empty"),
        ("   ", "empty"),
        ('{"hook": "patient-view",}', "not valid JSON"),
        ("[]", "must be a JSON object"),
        ('"patient-view"', "must be a JSON object"),
        ("null", "must be a JSON object"),
        ("42", "must be a JSON object"),
        (b"\xff\xfe{}", "not UTF-8"),
        ("NaN", "must be a JSON object"),
    ],
)
def test_malformed_body_is_400(
    service_client: FlaskClient, raw: str | bytes, expected: str
) -> None:
    response = _post(service_client, raw)
    assert response.status_code == 400
    assert expected in _issue(response)["diagnostics"]


@pytest.mark.parametrize(
    ("field", "value", "expression"),
    [
        ("hook", ..., "hook"),
        ("hook", 7, "hook"),
        ("hookInstance", ..., "hookInstance"),
        ("hookInstance", "", "hookInstance"),
        ("hookInstance", ["x"], "hookInstance"),
        ("hookInstance", "x" * 300, "hookInstance"),
        ("context", ..., "context"),
        ("context", None, "context"),
        ("context", "Patient/1", "context"),
        ("context", [], "context"),
        ("prefetch", "everything", "prefetch"),
        ("prefetch", [], "prefetch"),
        ("extension", "x", "extension"),
        ("extension", [1], "extension"),
        ("fhirServer", 5, "fhirServer"),
        ("fhirServer", "ftp://127.0.0.1/fhir", "fhirServer"),
        ("fhirServer", "not a url", "fhirServer"),
        ("fhirServer", "http://user:pw@127.0.0.1/fhir", "fhirServer"),
        ("fhirServer", "http://127.0.0.1/fhir?x=1", "fhirServer"),
    ],
)
def test_missing_or_wrong_top_level_field_is_400(
    service_client: FlaskClient, field: str, value: Any, expression: str
) -> None:
    response = _post(service_client, hook_body(**{field: value}))
    assert response.status_code == 400, response.get_json()
    assert _issue(response)["expression"] == [expression]


def test_request_without_context_or_prefetch_is_400_not_500(service_client: FlaskClient) -> None:
    """A known trap: services that crash on a request lacking context and prefetch."""
    response = _post(service_client, {"hook": "patient-view", "hookInstance": "abc"})
    assert response.status_code == 400
    assert _issue(response)["expression"] == ["context"]


def test_request_with_only_hook_is_400(service_client: FlaskClient) -> None:
    response = _post(service_client, {"hook": "patient-view"})
    assert response.status_code == 400
    assert _issue(response)["expression"] == ["hookInstance"]


def test_request_without_prefetch_and_without_fhir_server_is_412(
    service_client: FlaskClient,
) -> None:
    response = _post(service_client, hook_body(prefetch=...))
    assert response.status_code == 412


@pytest.mark.parametrize(
    ("context", "expression"),
    [
        ({"userId": "Practitioner/1"}, "context.patientId"),
        ({"patientId": "p1"}, "context.userId"),
        ({"patientId": "", "userId": "Practitioner/1"}, "context.patientId"),
        ({"patientId": 12, "userId": "Practitioner/1"}, "context.patientId"),
        ({"patientId": None, "userId": "Practitioner/1"}, "context.patientId"),
        ({"patientId": "../Observation", "userId": "Practitioner/1"}, "context.patientId"),
        ({"patientId": "p1?_include=*", "userId": "Practitioner/1"}, "context.patientId"),
        ({"patientId": "x" * 65, "userId": "Practitioner/1"}, "context.patientId"),
        ({"patientId": "p1", "userId": "Device/1"}, "context.userId"),
        ({"patientId": "p1", "userId": "Practitioner"}, "context.userId"),
        ({"patientId": "p1", "userId": ["Practitioner/1"]}, "context.userId"),
        ({"patientId": "p1", "userId": "Practitioner/1", "encounterId": 3}, "context.encounterId"),
    ],
)
def test_patient_view_context_fields_are_checked(
    service_client: FlaskClient, context: dict[str, Any], expression: str
) -> None:
    response = _post(service_client, hook_body(context=context))
    assert response.status_code == 400
    assert _issue(response)["expression"] == [expression]


@pytest.mark.parametrize(
    "user_id", ["Practitioner/a1", "PractitionerRole/r-2", "Patient/p.3", "RelatedPerson/4"]
)
def test_every_user_type_of_patient_view_is_accepted(
    service_client: FlaskClient, user_id: str
) -> None:
    context = {"patientId": "pat-1", "userId": user_id, "encounterId": "enc-1"}
    assert _post(service_client, hook_body(context=context)).status_code == 200


@pytest.mark.parametrize("hook", ["order-sign", "order-select", "encounter-start", "PATIENT-VIEW"])
def test_hook_not_served_by_the_service_is_400(service_client: FlaskClient, hook: str) -> None:
    response = _post(service_client, hook_body(hook=hook))
    assert response.status_code == 400
    issue = _issue(response)
    assert issue["expression"] == ["hook"]
    assert "patient-view" in issue["diagnostics"]


def _auth(**overrides: Any) -> dict[str, Any]:
    auth = {
        "access_token": TOKEN,
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/*.read",
        "subject": "osteopenia-cds",
    }
    for key, value in overrides.items():
        if value is ...:
            auth.pop(key)
        else:
            auth[key] = value
    return auth


def test_fhir_authorization_requires_fhir_server(service_client: FlaskClient) -> None:
    response = _post(service_client, hook_body(fhirAuthorization=_auth()))
    assert response.status_code == 400
    assert _issue(response)["expression"] == ["fhirServer"]


@pytest.mark.parametrize(
    ("overrides", "expression"),
    [
        ({"access_token": ...}, "fhirAuthorization.access_token"),
        ({"access_token": ""}, "fhirAuthorization.access_token"),
        ({"token_type": ...}, "fhirAuthorization.token_type"),
        ({"token_type": "MAC"}, "fhirAuthorization.token_type"),
        ({"scope": ...}, "fhirAuthorization.scope"),
        ({"subject": ...}, "fhirAuthorization.subject"),
        ({"expires_in": ...}, "fhirAuthorization.expires_in"),
        ({"expires_in": "300"}, "fhirAuthorization.expires_in"),
        ({"expires_in": True}, "fhirAuthorization.expires_in"),
        ({"expires_in": -1}, "fhirAuthorization.expires_in"),
        ({"patient": 5}, "fhirAuthorization.patient"),
    ],
)
def test_fhir_authorization_fields_are_checked(
    service_client: FlaskClient, overrides: dict[str, Any], expression: str
) -> None:
    body = hook_body(fhirServer="http://127.0.0.1:9/fhir", fhirAuthorization=_auth(**overrides))
    response = _post(service_client, body)
    assert response.status_code == 400
    assert _issue(response)["expression"] == [expression]
    assert TOKEN not in response.get_data(as_text=True)


def test_fhir_authorization_not_an_object_is_400(service_client: FlaskClient) -> None:
    body = hook_body(fhirServer="http://127.0.0.1:9/fhir", fhirAuthorization="Bearer x")
    response = _post(service_client, body)
    assert response.status_code == 400
    assert _issue(response)["expression"] == ["fhirAuthorization"]


def test_complete_fhir_authorization_is_accepted(service_client: FlaskClient) -> None:
    body = hook_body(
        fhirServer="http://127.0.0.1:9/fhir", fhirAuthorization=_auth(token_type="bearer")
    )
    assert _post(service_client, body).status_code == 200


def test_nesting_deeper_than_the_cap_is_400(
    make_service_client: Callable[..., FlaskClient],
) -> None:
    client = make_service_client(max_json_depth=16)
    deep: Any = "x"
    for _ in range(20):
        deep = {"a": deep}
    response = _post(client, hook_body(extension={"deep": deep}))
    assert response.status_code == 400
    assert "nested deeper" in _issue(response)["diagnostics"]


def test_pathological_nesting_is_400_not_500(service_client: FlaskClient) -> None:
    raw = '{"hook": "patient-view", "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    response = _post(service_client, raw)
    assert response.status_code == 400
    assert "nested deeper" in _issue(response)["diagnostics"]


def test_too_many_prefetch_keys_is_400(make_service_client: Callable[..., FlaskClient]) -> None:
    client = make_service_client(max_prefetch_keys=12)
    prefetch = hook_body()["prefetch"]
    prefetch.update({f"extra{i}": None for i in range(5)})
    response = _post(client, hook_body(prefetch=prefetch))
    assert response.status_code == 400
    assert _issue(response)["expression"] == ["prefetch"]


def test_too_many_prefetch_entries_is_400(make_service_client: Callable[..., FlaskClient]) -> None:
    client = make_service_client(max_prefetch_entries=10)
    prefetch = hook_body()["prefetch"]
    prefetch["conditions"]["entry"] = [
        {"resource": {"resourceType": "Condition", "id": str(i)}} for i in range(11)
    ]
    response = _post(client, hook_body(prefetch=prefetch))
    assert response.status_code == 400
    assert "resources" in _issue(response)["diagnostics"]


@pytest.mark.parametrize(
    "value", ["123", 5, True, [1], {"id": "no-resource-type"}, {"resourceType": 3}]
)
def test_prefetch_value_that_is_not_a_resource_is_400(
    service_client: FlaskClient, value: Any
) -> None:
    prefetch = hook_body()["prefetch"]
    prefetch["patient"] = value
    response = _post(service_client, hook_body(prefetch=prefetch))
    assert response.status_code == 400
    assert _issue(response)["expression"] == ["prefetch.patient"]


def test_prefetch_bundle_entry_not_array_is_400(service_client: FlaskClient) -> None:
    prefetch = hook_body()["prefetch"]
    prefetch["conditions"]["entry"] = {"resource": {}}
    response = _post(service_client, hook_body(prefetch=prefetch))
    assert response.status_code == 400


def test_engine_failure_is_500_logged_with_hook_instance(
    make_app: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    engine = RecordingEngine(error=RuntimeError("boom in rule R4"))
    client = make_app(engine=engine).test_client()
    body = hook_body(hookInstance="d1f3c7a0-5b8e-4c1a-9e2f-0a1b2c3d4e5f")
    with caplog.at_level(logging.ERROR, logger="cds_service.errors"):
        response = _post(client, body)
    assert response.status_code == 500
    text = response.get_data(as_text=True)
    assert "boom" not in text and "Traceback" not in text
    assert _issue(response)["code"] == "exception"
    assert any("d1f3c7a0-5b8e-4c1a-9e2f-0a1b2c3d4e5f" in r.getMessage() for r in caplog.records)


def test_unknown_prefetch_keys_are_ignored(
    service_client: FlaskClient, engine: RecordingEngine
) -> None:
    prefetch = hook_body()["prefetch"]
    prefetch["somethingElse"] = {"resourceType": "Patient", "id": "other"}
    assert _post(service_client, hook_body(prefetch=prefetch)).status_code == 200
    assert "somethingElse" not in engine.calls[0]["prefetch"]


def test_extra_top_level_members_are_tolerated(service_client: FlaskClient) -> None:
    body = hook_body(extension={"com.example.trace": {"id": "1"}}, unknownMember=1)
    assert _post(service_client, body).status_code == 200
