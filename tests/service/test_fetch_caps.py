"""The caps on concurrent fall-back fetches: per FHIR server and in total, host-wide.

Slots are held here the way another worker process holding them would (a lock on the same
file), so the call under test meets a full cap without any real FHIR server hanging.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient

from cds_service.fetch_slots import FetchCapReached, FetchSlots, server_key
from tests.service.conftest import SERVICE_URL, hook_body, searchset

# Bases of their own: fetches abandoned by other tests of this process may still reach theirs.
FHIR_BASE = "http://127.0.0.1:9/capped-ehr/fhir"
OTHER_FHIR = "http://127.0.0.1:9/other-ehr/fhir"


def calls_to(base: str) -> int:
    return sum(1 for call in responses.calls if call.request.url.startswith(base))


def slots_of(app: Flask) -> FetchSlots:
    return app.extensions["fetch_slots"]


def fetching_call(fhir_server: str = FHIR_BASE) -> dict[str, Any]:
    body = hook_body(fhirServer=fhir_server)
    body["prefetch"] = {}
    return body


@pytest.fixture
def capped(make_app: Callable[..., Flask]) -> Flask:
    return make_app(fetch_max_per_server=2, fetch_max_total=3)


def test_the_caps_are_settings_with_documented_defaults() -> None:
    from cds_service.settings import ConfigurationError, Settings

    assert (Settings().fetch_max_per_server, Settings().fetch_max_total) == (4, 8)
    env = {"CDS_FETCH_MAX_PER_SERVER": "2", "CDS_FETCH_MAX_TOTAL": "5"}
    settings = Settings.from_env(env)
    assert (settings.fetch_max_per_server, settings.fetch_max_total) == (2, 5)
    with pytest.raises(ConfigurationError, match="CDS_FETCH_MAX_TOTAL"):
        Settings.from_env({"CDS_FETCH_MAX_TOTAL": "0"})


@responses.activate
def test_a_call_over_the_per_server_cap_is_refused_at_once_with_412(
    capped: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    slots = slots_of(capped)
    with slots.hold(FHIR_BASE), slots.hold(FHIR_BASE + "/"):  # two spellings, one server
        with caplog.at_level(logging.INFO, logger="cds_service.requests"):
            response = capped.test_client().post(SERVICE_URL, json=fetching_call())
        assert calls_to(FHIR_BASE) == 0, "the FHIR server was called over the cap"
    assert response.status_code == 412
    body = response.get_json()
    assert body["resourceType"] == "OperationOutcome"
    assert {i["code"] for i in body["issue"]} == {"incomplete"}
    assert all("per-server limit" in i["diagnostics"] for i in body["issue"])
    assert all(i["expression"][0].startswith("prefetch.") for i in body["issue"])
    line = json.loads(caplog.records[-1].getMessage())
    assert line["reason"] == "fetch_cap_reached"
    assert line["fhirServer"] == FHIR_BASE
    [(why, keys)] = line["fetchFailures"].items()
    assert "per-server limit" in why and keys == line["prefetchMissing"]
    assert slots.held() == 0


@responses.activate
def test_a_call_over_the_total_cap_is_refused_though_its_server_is_idle(capped: Flask) -> None:
    slots = slots_of(capped)
    with slots.hold(OTHER_FHIR), slots.hold(OTHER_FHIR), slots.hold("http://127.0.0.1:9/third"):
        response = capped.test_client().post(SERVICE_URL, json=fetching_call())
    assert response.status_code == 412
    assert all("service's limit" in i["diagnostics"] for i in response.get_json()["issue"])
    assert calls_to(FHIR_BASE) == 0


@responses.activate
def test_below_the_caps_the_fetch_runs_and_frees_its_slot(capped: Flask) -> None:
    responses.get(f"{FHIR_BASE}/Patient/pat-1", json={"resourceType": "Patient", "id": "pat-1"})
    responses.get(responses.matchers.re.compile(rf"{FHIR_BASE}/\w+\?.*"), json=searchset())
    slots = slots_of(capped)
    with slots.hold(FHIR_BASE), slots.hold(OTHER_FHIR):  # one slot of each cap still free
        response = capped.test_client().post(SERVICE_URL, json=fetching_call())
        assert response.status_code == 200, response.get_json()
        assert (slots.held(FHIR_BASE), slots.held()) == (1, 2)
    assert slots.held() == 0


def test_prefetched_calls_never_take_a_slot(capped: Flask, service_client: FlaskClient) -> None:
    slots = slots_of(capped)
    with slots.hold(OTHER_FHIR), slots.hold(OTHER_FHIR), slots.hold("http://127.0.0.1:9/x"):
        response = capped.test_client().post(SERVICE_URL, json=hook_body(fhirServer=FHIR_BASE))
    assert response.status_code == 200


def test_a_refused_fhir_server_takes_no_slot(make_app: Callable[..., Flask]) -> None:
    app = make_app(fhir_servers=("http://127.0.0.1:9/allowed",), fetch_max_total=1)
    response = app.test_client().post(SERVICE_URL, json=fetching_call())
    assert response.status_code == 412
    assert slots_of(app).held() == 0


def test_one_server_key_per_base_url_spelling() -> None:
    assert server_key("HTTPS://EHR.example.org/fhir/") == server_key("https://ehr.example.org/fhir")
    assert server_key("https://ehr.example.org/fhir") != server_key("https://ehr.example.org/r4")


HOLDER = """
import sys
from pathlib import Path
from cds_service.fetch_slots import FetchSlots
slots = FetchSlots(Path(sys.argv[1]), per_server=1, total=5)
with slots.hold(sys.argv[2]):
    print("held", flush=True)
    sys.stdin.read()
"""


def test_slots_are_shared_between_processes_and_freed_when_one_dies(tmp_path: Path) -> None:
    slots = FetchSlots(tmp_path, per_server=1, total=5)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path), FHIR_BASE],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(FetchCapReached, match="per-server limit"), slots.hold(FHIR_BASE):
            pass
        with slots.hold(OTHER_FHIR):  # another server still has room
            assert slots.held() == 2
        holder.kill()  # a worker killed while fetching
        holder.wait(10)
        with slots.hold(FHIR_BASE):
            assert slots.held(FHIR_BASE) == 1
    finally:
        holder.kill()
        holder.wait(10)
