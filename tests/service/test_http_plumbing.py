"""CORS, health endpoints, the request log and the response cleaning."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from cds_service.service_response import service_response, without_empty_values
from tests.service.conftest import SERVICE_URL, RecordingCardLog, RecordingEngine, hook_body

SANDBOX = "https://sandbox.cds-hooks.org"


@pytest.mark.parametrize("path", ["/cds-services", SERVICE_URL, f"{SERVICE_URL}/feedback"])
def test_req_208_cors_preflight_answered_without_auth(
    service_client: FlaskClient, path: str
) -> None:
    """REQ-208: browser clients (the CDS Hooks sandbox) get CORS; preflights need no JWT."""
    response = service_client.options(
        path,
        headers={
            "Origin": SANDBOX,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    allowed = {
        h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")
    }
    assert {"authorization", "content-type"} <= allowed
    assert "POST" in response.headers["Access-Control-Allow-Methods"]


def test_preflight_passes_even_when_authentication_is_on(
    make_service_client: Callable[..., FlaskClient], tmp_path: Any
) -> None:
    issuers = tmp_path / "issuers.json"
    issuers.write_text(
        json.dumps(
            [
                {
                    "iss": SANDBOX,
                    "jwks_url": "http://127.0.0.1:9/.well-known/jwks.json",
                    "fhir_servers": ["http://127.0.0.1:9/fhir"],
                }
            ]
        )
    )
    client = make_service_client(trusted_issuers_file=issuers)
    unauthenticated = client.post(SERVICE_URL, json=hook_body())
    assert unauthenticated.status_code == 401
    preflight = client.options(
        SERVICE_URL, headers={"Origin": SANDBOX, "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"


def test_cors_headers_on_actual_responses_and_errors(service_client: FlaskClient) -> None:
    ok = service_client.get("/cds-services", headers={"Origin": SANDBOX})
    assert ok.headers["Access-Control-Allow-Origin"] == "*"
    error = service_client.post(SERVICE_URL, json={}, headers={"Origin": SANDBOX})
    assert error.status_code == 400
    assert error.headers["Access-Control-Allow-Origin"] == "*"


def test_cors_origin_allow_list(make_service_client: Callable[..., FlaskClient]) -> None:
    client = make_service_client(cors_origins=(SANDBOX,))
    allowed = client.get("/cds-services", headers={"Origin": SANDBOX})
    assert allowed.headers["Access-Control-Allow-Origin"] == SANDBOX
    assert "Origin" in allowed.headers["Vary"]
    other = client.get("/cds-services", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers


def test_no_cors_header_without_origin(service_client: FlaskClient) -> None:
    assert "Access-Control-Allow-Origin" not in service_client.get("/cds-services").headers


def test_healthz(service_client: FlaskClient) -> None:
    response = service_client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_ready(service_client: FlaskClient) -> None:
    response = service_client.get("/readyz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ready"
    assert {"config", "engine"} <= {c["name"] for c in body["checks"]}


def test_readyz_503_when_a_check_fails(make_app: Callable[..., Any]) -> None:
    app = make_app(engine=RecordingEngine())

    def database() -> dict[str, Any]:
        return {"name": "database", "ok": False, "detail": "connection refused"}

    def broken() -> dict[str, Any]:
        raise ConnectionError("secret host name")

    app.extensions["readiness"].extend([database, broken])
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    checks = {c["name"]: c for c in response.get_json()["checks"]}
    assert checks["database"]["ok"] is False
    assert checks["broken"]["ok"] is False
    assert "secret" not in response.get_data(as_text=True)


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(record.getMessage()))


@pytest.fixture
def request_lines() -> Any:
    handler = _Lines()
    logger = logging.getLogger("cds_service.requests")
    logger.addHandler(handler)
    yield handler.lines
    logger.removeHandler(handler)


def test_request_log_one_json_line_without_patient_data(
    service_client: FlaskClient, request_lines: list[dict[str, Any]]
) -> None:
    body = hook_body(hookInstance="hi-123")
    body["context"]["patientId"] = "patient-zz9"
    response = service_client.post(SERVICE_URL, json=body)
    assert response.status_code == 200
    (line,) = request_lines
    assert line["hookInstance"] == "hi-123"
    assert line["service"] == "osteopenia-management"
    assert line["status"] == 200
    assert line["cards"] == 1
    assert isinstance(line["duration_ms"], float)
    assert "patient-zz9" not in json.dumps(line)


def test_request_log_names_the_rejection_reason(
    service_client: FlaskClient, request_lines: list[dict[str, Any]]
) -> None:
    service_client.post(SERVICE_URL, json=hook_body(prefetch=...))
    service_client.post(SERVICE_URL, data="x", content_type="text/plain")
    lines = request_lines
    assert [(entry["status"], entry["reason"]) for entry in lines] == [
        (412, "prefetch_unavailable"),
        (415, "unsupported_media_type"),
    ]
    assert "patient" in lines[0]["prefetchMissing"]


def test_card_log_receives_the_cards(
    service_client: FlaskClient, card_log: RecordingCardLog
) -> None:
    body = hook_body()
    response = service_client.post(SERVICE_URL, json=body)
    (record,) = card_log.records
    assert record["service_id"] == "osteopenia-management"
    assert record["hook_instance"] == body["hookInstance"]
    assert record["patient_id"] == "pat-1"
    assert record["cards"] == response.get_json()["cards"]


def test_card_log_failure_does_not_lose_the_cards(
    service_client: FlaskClient, card_log: RecordingCardLog, caplog: pytest.LogCaptureFixture
) -> None:
    def fail(**_: Any) -> None:
        raise OSError("disk full")

    card_log.record = fail  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR):
        response = service_client.post(SERVICE_URL, json=hook_body())
    assert response.status_code == 200
    assert response.get_json()["cards"]
    assert any("card log failed" in r.getMessage() for r in caplog.records)


def test_req_003_response_has_no_null_or_empty_values(service_client: FlaskClient) -> None:
    """REQ-3: the engine's empty ``detail`` and ``links`` never reach the EHR."""
    card = service_client.post(SERVICE_URL, json=hook_body()).get_json()["cards"][0]
    assert "detail" not in card and "links" not in card


def test_req_074_075_success_is_200_with_cards_and_no_empty_system_actions(
    make_app: Callable[..., Any],
) -> None:
    """REQ-74: 200 with a cards array (empty means no guidance); REQ-75: systemActions only
    when there are any."""
    client = make_app(engine=RecordingEngine(cards=[])).test_client()
    response = client.post(SERVICE_URL, json=hook_body())
    assert response.status_code == 200
    assert response.get_json() == {"cards": []}


def test_without_empty_values() -> None:
    value = {"a": None, "b": "", "c": [], "d": {}, "e": [{"x": None}], "f": 0, "g": False}
    assert without_empty_values(value) == {"f": 0, "g": False}
    assert service_response([], [{"type": "create", "description": "", "resource": {}}]) == {
        "cards": [],
        "systemActions": [{"type": "create"}],
    }
