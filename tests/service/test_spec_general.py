"""General CDS Hooks rules: JSON both ways, HTTPS for the service's own FHIR calls, and one
service id answering several hooks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import responses
from flask.testing import FlaskClient

from cds_service import discovery
from cds_service.discovery import ServiceDefinition
from tests.service.conftest import FHIR_BASE, SERVICE_ID, SERVICE_URL, hook_body


def test_req_001_json_in_and_out(service_client: FlaskClient) -> None:
    """REQ-1: data is exchanged as JSON: every answer is JSON, a non-JSON request is refused."""
    answers = [
        service_client.get("/cds-services"),
        service_client.post(SERVICE_URL, json=hook_body()),
        service_client.post(SERVICE_URL, json={}),
        service_client.post(SERVICE_URL, data="<xml/>", content_type="application/xml"),
        service_client.get("/no-such-path"),
        service_client.get("/healthz"),
    ]
    assert [a.status_code for a in answers] == [200, 200, 400, 415, 404, 200]
    for answer in answers:
        assert answer.mimetype == "application/json"
        assert isinstance(answer.get_json(), dict)


@responses.activate
def test_req_002_168_production_fetches_only_over_https(
    make_service_client: Callable[..., FlaskClient], tmp_path: Any
) -> None:
    """REQ-2, REQ-168: in production the service sends its FHIR calls (and the EHR's token)
    only over HTTPS. Inbound TLS is terminated by the deployment (docs/conformance.md)."""
    from cds_service.hooks import fhir_server_refusal
    from tests.conftest import build_settings

    production = build_settings(tmp_path, environment="production")
    assert fhir_server_refusal("http://127.0.0.1:9/fhir", production) is not None
    development = build_settings(tmp_path)
    assert fhir_server_refusal(FHIR_BASE, development) is None


def _two_hooks() -> tuple[ServiceDefinition, ...]:
    prefetch = {"patient": "Patient/{{context.patientId}}"}
    return (
        ServiceDefinition(SERVICE_ID, "patient-view", "t", "d", None, prefetch),
        ServiceDefinition(SERVICE_ID, "encounter-start", "t", "d", None, {}),
    )


def test_req_211_one_id_several_hooks_dispatches_on_hook(
    service_client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """REQ-211: a service can be listed under one id for several hooks (to refresh stale
    guidance); the call is dispatched on the request's hook."""
    monkeypatch.setattr(discovery, "service_definitions", _two_hooks)
    listed = service_client.get("/cds-services").get_json()["services"]
    assert [(s["id"], s["hook"]) for s in listed] == [
        (SERVICE_ID, "patient-view"),
        (SERVICE_ID, "encounter-start"),
    ]
    body = hook_body(prefetch={"patient": {"resourceType": "Patient", "id": "pat-1"}})
    assert service_client.post(SERVICE_URL, json=body).status_code == 200
    other = hook_body(hook="encounter-start", prefetch=...)
    assert service_client.post(SERVICE_URL, json=other).status_code == 200
    wrong = service_client.post(SERVICE_URL, json=hook_body(hook="order-sign"))
    assert wrong.status_code == 400
    assert "encounter-start, patient-view" in wrong.get_json()["issue"][0]["diagnostics"]
