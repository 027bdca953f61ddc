"""The fall-back fetch against a FHIR server that misbehaves on purpose.

Every hook call here carries no prefetch, so all data must come from ``fhirServer``, a real
HTTP server on 127.0.0.1 (``fault_server.py``). Whatever the fault, the service answers within
its configured deadline (plus the fetch pool's one-second grace) with 412 and an
OperationOutcome naming the prefetch keys it could not obtain, and it leaves no request
hanging on the FHIR server behind it: the worker is free again once it has answered.

The bounds are generous multiples of the configured deadline: they check that the deadline is
enforced at all (a missing one shows up as tens of seconds or a hang), not how fast it is.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

from tests.faults.fault_server import PATIENT_ID, FaultyFhirServer

READ_TIMEOUT = 0.25
DEADLINE = 1.0
POOL_GRACE = 1.0  # prefetch.resolve_prefetch waits this long past the deadline for stragglers
BOUND = DEADLINE + POOL_GRACE + 4.0  # generous: a missing deadline shows as a hang
IDLE_BOUND = 3.0

# Each fault, and what the 412 may say about it (any issue's diagnostics contains one).
FAULTS_ANSWERED_412 = {
    "slow": ("in time",),
    "blackhole": ("in time",),
    "drip": ("in time",),
    "error500": ("HTTP 500",),
    "throttled": ("HTTP 429",),
    "truncated": ("connection broke", "not FHIR JSON"),
    "notjson": ("not FHIR JSON",),
    "badjson": ("not FHIR JSON",),
    "notfhir": ("not a FHIR resource",),
    "endless": ("pages", "in time"),
    "huge": ("more than", "in time"),
    "redirect": ("redirect",),
}


@pytest.fixture(scope="module")
def fhir() -> Iterator[FaultyFhirServer]:
    with FaultyFhirServer(read_timeout=READ_TIMEOUT) as server:
        yield server


@pytest.fixture
def fault_app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(
        fetch_deadline_seconds=DEADLINE,
        fhir_connect_timeout=READ_TIMEOUT,
        fhir_read_timeout=READ_TIMEOUT,
    )


def hook_call(fhir_server: str, **extra: Any) -> dict[str, Any]:
    return {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "fhirServer": fhir_server,
        "context": {"patientId": PATIENT_ID, "userId": "Practitioner/fault-user"},
        **extra,
    }


def fetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("fhir-fetch") and t.is_alive()]


def wait_no_fetch_threads(timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not fetch_threads():
            return True
        time.sleep(0.02)
    return not fetch_threads()


def prefetch_keys(app: Flask) -> set[str]:
    from cds_service.discovery import find_service

    service = find_service("osteopenia-management", "patient-view")
    assert service is not None
    return set(service.prefetch)


@pytest.mark.parametrize("fault", FAULTS_ANSWERED_412)
def test_fault_is_answered_412_within_the_deadline(
    fault: str, fhir: FaultyFhirServer, fault_app: Flask
) -> None:
    client = fault_app.test_client()
    started = time.monotonic()
    response = client.post("/cds-services/osteopenia-management", json=hook_call(fhir.url(fault)))
    elapsed = time.monotonic() - started

    assert fhir.hits(fault) > 0, "the fall-back fetch never reached the FHIR server"
    assert response.status_code == 412, response.get_data(as_text=True)[:500]
    body = response.get_json()
    assert body["resourceType"] == "OperationOutcome"
    named = {
        expression.removeprefix("prefetch.")
        for issue in body["issue"]
        for expression in issue.get("expression", [])
    }
    assert named, body
    assert named <= prefetch_keys(fault_app)
    assert all(
        any(reason in issue["diagnostics"] for reason in FAULTS_ANSWERED_412[fault])
        for issue in body["issue"]
    ), [issue["diagnostics"] for issue in body["issue"]]
    assert elapsed < BOUND, f"{fault}: answered after {elapsed:.1f} s (deadline {DEADLINE} s)"
    # The worker is not left blocked: nothing still reads from, or waits on, the server.
    assert fhir.wait_idle(IDLE_BOUND), f"{fault}: {fhir.in_flight()} requests still open"
    assert wait_no_fetch_threads(IDLE_BOUND), f"{fault}: fetch threads still running"


def test_partial_data_is_412_naming_only_what_failed(
    fhir: FaultyFhirServer, fault_app: Flask
) -> None:
    response = fault_app.test_client().post(
        "/cds-services/osteopenia-management", json=hook_call(fhir.url("partial"))
    )
    assert response.status_code == 412
    named = {
        expression.removeprefix("prefetch.")
        for issue in response.get_json()["issue"]
        for expression in issue.get("expression", [])
    }
    assert "patient" not in named  # the Patient read succeeded
    assert named == prefetch_keys(fault_app) - {"patient"}


def test_faults_do_not_block_a_following_healthy_call(
    fhir: FaultyFhirServer, fault_app: Flask
) -> None:
    """Stalled fetches of earlier calls do not hold the worker: the next call is served."""
    client = fault_app.test_client()
    for fault in ("blackhole", "drip", "slow"):
        assert (
            client.post(
                "/cds-services/osteopenia-management", json=hook_call(fhir.url(fault))
            ).status_code
            == 412
        )
    started = time.monotonic()
    response = client.post(
        "/cds-services/osteopenia-management", json=hook_call(fhir.url("healthy"))
    )
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert isinstance(response.get_json()["cards"], list)
    assert time.monotonic() - started < BOUND


def test_concurrent_stalled_calls_all_answer_within_the_deadline(
    fhir: FaultyFhirServer, fault_app: Flask
) -> None:
    """Several workers (threads, as under gunicorn's gthread) stalled at once all get free."""
    results: list[tuple[int, float]] = []
    lock = threading.Lock()

    def call(fault: str) -> None:
        client = fault_app.test_client()
        started = time.monotonic()
        status = client.post(
            "/cds-services/osteopenia-management", json=hook_call(fhir.url(fault))
        ).status_code
        with lock:
            results.append((status, time.monotonic() - started))

    threads = [
        threading.Thread(target=call, args=(fault,))
        for fault in ("blackhole", "drip", "slow", "blackhole", "drip", "slow")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=BOUND * 3)
    assert len(results) == len(threads)
    assert all(status == 412 for status, _ in results)
    assert max(elapsed for _, elapsed in results) < BOUND * 2
    assert fhir.wait_idle(IDLE_BOUND)


def test_prefetched_keys_are_not_fetched_again(fhir: FaultyFhirServer, fault_app: Flask) -> None:
    """With every key prefetched, a dead fhirServer is never called and cards come back."""
    before = fhir.hits("blackhole")
    prefetch = {key: None for key in prefetch_keys(fault_app)}
    prefetch["patient"] = {
        "resourceType": "Patient",
        "id": PATIENT_ID,
        "gender": "female",
        "birthDate": "1955-03-14",
    }
    response = fault_app.test_client().post(
        "/cds-services/osteopenia-management",
        json=hook_call(fhir.url("blackhole"), prefetch=prefetch),
    )
    assert response.status_code == 200
    assert fhir.hits("blackhole") == before
