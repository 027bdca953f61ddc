"""Store tests run against SQLite and a throwaway PostgreSQL server alike.

``backend`` parametrizes a test over both; ``store_settings`` gives each test its own empty
database (a fresh SQLite file in its temporary directory, or a fresh PostgreSQL database).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cds_service.app import create_app
from cds_service.settings import Settings
from tests.support.postgres import PostgresServer

SERVICE_ID = "osteopenia-management"
FEEDBACK_URL = f"/cds-services/{SERVICE_ID}/feedback"


class NoCardsEngine:
    """Stands in for the guideline engine where a test issues cards through the card log."""

    def evaluate(self, prefetch: Any, *, patient_id: str, as_of: date) -> list[dict[str, Any]]:
        return []


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_settings(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Settings]:
    data_dir = tmp_path / "var"
    if backend == "sqlite":
        yield Settings(data_dir=data_dir)
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = server.create_database()
    try:
        yield Settings(data_dir=data_dir, database_url=server.url(name))
    finally:
        server.drop_database(name)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def shared_store_app(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Flask]:
    """One app per backend for a whole module: for tests of requests that store nothing."""
    data_dir = tmp_path_factory.mktemp("shared") / "var"
    server: PostgresServer | None = None
    name = None
    if request.param == "sqlite":
        settings = Settings(data_dir=data_dir)
    else:
        server = request.getfixturevalue("postgres_server")
        name = server.create_database()
        settings = Settings(data_dir=data_dir, database_url=server.url(name))
    app = create_app(settings, engine=NoCardsEngine())
    app.testing = True
    try:
        yield app
    finally:
        app.extensions["store"].close()
        if server is not None and name is not None:
            server.drop_database(name)


@pytest.fixture
def make_store_app(store_settings: Settings) -> Iterator[Callable[..., Flask]]:
    built: list[Flask] = []

    def factory(engine: Any | None = None, **overrides: Any) -> Flask:
        settings = dataclasses.replace(store_settings, **overrides)
        app = create_app(settings, engine=engine if engine is not None else NoCardsEngine())
        app.testing = True
        built.append(app)
        return app

    yield factory
    for app in built:
        app.extensions["store"].close()


@pytest.fixture
def store_app(make_store_app: Callable[..., Flask]) -> Flask:
    return make_store_app()


@pytest.fixture
def store_client(store_app: Flask) -> FlaskClient:
    return store_app.test_client()


def card(uuid: str, rule: str, *suggestions: tuple[str, str]) -> dict[str, Any]:
    """A card as the engine renders it; ``suggestions`` are (uuid, resourceType) pairs."""
    body: dict[str, Any] = {
        "uuid": uuid,
        "summary": f"Card of rule {rule}",
        "indicator": "info",
        "source": {
            "label": "Osteopenia CDS",
            "topic": {"system": "urn:osteopenia-cds:rule", "code": rule, "display": rule},
        },
        "extension": {"urn:osteopenia-cds:rule": rule},
    }
    if suggestions:
        body["selectionBehavior"] = "any"
        body["suggestions"] = [
            {
                "label": f"Order {kind}",
                "uuid": suggestion_uuid,
                "actions": [
                    {
                        "type": "create",
                        "description": f"Draft {kind}",
                        "resource": {"resourceType": kind, "status": "draft"},
                    }
                ],
            }
            for suggestion_uuid, kind in suggestions
        ]
    return body


def accepted(card_uuid: str, *suggestions: str, at: str = "2026-11-20T10:05:31Z") -> dict[str, Any]:
    return {
        "card": card_uuid,
        "outcome": "accepted",
        "acceptedSuggestions": [{"id": s} for s in suggestions],
        "outcomeTimestamp": at,
    }


def overridden(
    card_uuid: str,
    code: str | None = None,
    *,
    comment: str | None = None,
    at: str = "2026-11-20T10:06:00Z",
) -> dict[str, Any]:
    item: dict[str, Any] = {"card": card_uuid, "outcome": "overridden", "outcomeTimestamp": at}
    reason: dict[str, Any] = {}
    if code is not None:
        reason["reason"] = {
            "system": "urn:osteopenia-cds:override-reason",
            "code": code,
            "display": code.replace("-", " "),
        }
    if comment is not None:
        reason["userComment"] = comment
    if reason:
        item["overrideReason"] = reason
    return item
