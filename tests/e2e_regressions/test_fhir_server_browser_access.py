"""The test FHIR server as a browser-based EHR (the CDS Hooks sandbox) uses it.

The sandbox runs in the browser on another origin: without CORS it cannot read the server's
metadata or the patient, and it asks for the FHIR server again. For prefetch it tries
``POST Type/_search`` with a form body first, and falls back to GET only on an error.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import requests

from tests.support.demo_fixtures import DEMO_DIR, shifted_bundle
from tests.support.fhir_server import RunningFhirServer, start_fhir_server

PATIENT = "demo-treatment-indicated"
ORIGIN = "http://127.0.0.1:1"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningFhirServer]:
    path: Path = tmp_path_factory.mktemp("bundle") / "patient.json"
    path.write_text(json.dumps(shifted_bundle(DEMO_DIR / f"{PATIENT}.json", date.today())))
    with start_fhir_server([path]) as running:
        yield running


def test_answers_allow_any_origin(server: RunningFhirServer) -> None:
    for url in (f"{server.base_url}/metadata", f"{server.base_url}/Patient/{PATIENT}"):
        response = requests.get(url, headers={"Origin": ORIGIN}, timeout=10)
        assert response.status_code == 200
        assert response.headers["Access-Control-Allow-Origin"] == "*"
    missing = requests.get(f"{server.base_url}/Patient/nobody", timeout=10)
    assert missing.status_code == 404
    assert missing.headers["Access-Control-Allow-Origin"] == "*"


def test_preflight_is_answered(server: RunningFhirServer) -> None:
    response = requests.options(
        f"{server.base_url}/Observation",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
        timeout=10,
    )
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "authorization" in response.headers["Access-Control-Allow-Headers"]


def test_post_search_with_a_form_body_is_the_get_search(server: RunningFhirServer) -> None:
    params = {"patient": PATIENT, "code": "http://loinc.org|90265-0,http://loinc.org|90266-8"}
    by_get = requests.get(f"{server.base_url}/Observation", params=params, timeout=10).json()
    posted = requests.post(f"{server.base_url}/Observation/_search", data=params, timeout=10)
    assert posted.status_code == 200, posted.text
    by_post = posted.json()
    assert by_post["resourceType"] == "Bundle" and by_post["type"] == "searchset"
    assert by_post["total"] == by_get["total"] == 2
    ids = sorted(e["resource"]["id"] for e in by_post["entry"])
    assert ids == sorted(e["resource"]["id"] for e in by_get["entry"])


def test_post_search_needs_a_form_body(server: RunningFhirServer) -> None:
    response = requests.post(
        f"{server.base_url}/Observation/_search", json={"patient": PATIENT}, timeout=10
    )
    assert response.status_code == 415
    assert response.json()["resourceType"] == "OperationOutcome"


def test_preflight_from_a_public_page_is_allowed_to_reach_loopback(
    server: RunningFhirServer,
) -> None:
    response = requests.options(
        f"{server.base_url}/Patient/{PATIENT}",
        headers={
            "Origin": "https://sandbox.cds-hooks.org",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Private-Network": "true",
        },
        timeout=10,
    )
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Private-Network"] == "true"
