"""Fixtures of the service tests: an app whose engine records what it was given."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.support.fhir_fixtures import fhir_server  # noqa: F401 - a fixture, used by name

SERVICE_ID = "osteopenia-management"
SERVICE_URL = f"/cds-services/{SERVICE_ID}"
# Loopback address: `responses` intercepts these calls; nothing ever leaves the machine.
FHIR_BASE = "http://127.0.0.1:9/fhir"
PATIENT_ID = "pat-1"
TOKEN = "secret-access-token-abc123"


class RecordingEngine:
    """Stands in for the guideline engine where a test is about the HTTP wiring around it.

    Returns one card shaped like the engine's (with an empty field, which the service must
    strip), and remembers every call.
    """

    def __init__(self, cards: list[dict[str, Any]] | None = None, error: Exception | None = None):
        self.calls: list[dict[str, Any]] = []
        self.error = error
        self.cards = cards

    def evaluate(
        self, prefetch: Mapping[str, Any], *, patient_id: str, as_of: date
    ) -> list[dict[str, Any]]:
        self.calls.append({"prefetch": dict(prefetch), "patient_id": patient_id, "as_of": as_of})
        if self.error is not None:
            raise self.error
        if self.cards is not None:
            return copy.deepcopy(self.cards)
        return [
            {
                "uuid": str(uuid.uuid4()),
                "summary": "Osteopenia: start calcium and vitamin D",
                "detail": "",
                "indicator": "info",
                "source": {
                    "label": "BHOF 2022",
                    "url": "https://www.bonehealthandosteoporosis.org/",
                },
                "links": [],
                "extension": {"urn:osteopenia-cds:rule": "R2"},
            }
        ]


class RecordingCardLog:
    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def record(self, **kwargs: Any) -> None:
        self.records.append(kwargs)


def hook_body(**overrides: Any) -> dict[str, Any]:
    """A valid patient-view request with complete prefetch; ``overrides`` replace fields
    (a value of ``...`` deletes the field)."""
    body: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/example", "patientId": PATIENT_ID},
        "prefetch": full_prefetch(),
    }
    for key, value in overrides.items():
        if value is ...:
            body.pop(key, None)
        else:
            body[key] = value
    return body


def searchset(*resources: dict[str, Any], next_url: str | None = None) -> dict[str, Any]:
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r} for r in resources],
    }
    if next_url:
        bundle["link"] = [{"relation": "next", "url": next_url}]
    return bundle


def patient_resource(patient_id: str = PATIENT_ID) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": patient_id,
        "gender": "female",
        "birthDate": "1950-01-01",
    }


def full_prefetch() -> dict[str, Any]:
    from cds_service.discovery import find_service

    service = find_service(SERVICE_ID, "patient-view")
    assert service is not None
    prefetch: dict[str, Any] = {key: searchset() for key in service.prefetch}
    prefetch["patient"] = patient_resource()
    return prefetch


@pytest.fixture
def engine() -> RecordingEngine:
    return RecordingEngine()


@pytest.fixture
def card_log() -> RecordingCardLog:
    return RecordingCardLog()


@pytest.fixture
def service_app(
    make_app: Callable[..., Flask], engine: RecordingEngine, card_log: RecordingCardLog
) -> Flask:
    app = make_app(engine=engine)
    app.extensions["card_log"] = card_log
    return app


@pytest.fixture
def service_client(service_app: Flask) -> FlaskClient:
    return service_app.test_client()


@pytest.fixture
def make_service_client(
    make_app: Callable[..., Flask], engine: RecordingEngine
) -> Callable[..., FlaskClient]:
    """Factory: a client of an app with the recording engine and Settings overrides."""

    def factory(**overrides: Any) -> FlaskClient:
        return make_app(engine=engine, **overrides).test_client()

    return factory
