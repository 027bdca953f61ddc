"""Two replicas (each its own CDS_DATA_DIR, one shared database) honour one snooze."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from cds_service.app import create_app
from cds_service.settings import Settings
from tests.governance.conftest import cards_by_rule, hook_request, logged, override
from tests.store.conftest import postgres_server  # noqa: F401  (the throwaway PostgreSQL)
from tests.support.postgres import PostgresServer


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'shared' / 'store.sqlite3'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = server.create_database()
    try:
        yield server.url(name)
    finally:
        server.drop_database(name)


def test_an_override_on_one_replica_snoozes_the_rule_on_the_other(
    shared_database: str, tmp_path: Path
) -> None:
    (tmp_path / "shared").mkdir(exist_ok=True)
    replicas: list[Flask] = [
        create_app(Settings(data_dir=tmp_path / name, database_url=shared_database))
        for name in ("replica-a", "replica-b")
    ]
    try:
        a, b = (app.test_client() for app in replicas)
        body = hook_request()
        card = cards_by_rule(a, body)["R4"]
        assert "R4" in cards_by_rule(b, body)
        # The card log commits within 100 ms of a call; a clinician takes longer than that.
        replicas[0].extensions["card_log"].flush()
        assert override(b, card, "patient-declines")["unknownCards"] == 0  # A's card, via B
        assert "R4" not in cards_by_rule(a, body)
        assert "R4" not in cards_by_rule(b, body)
        replicas[1].extensions["card_log"].flush()
        dispositions = [d for rule, d in logged(replicas[0]) if rule == "R4"]
        assert sorted(dispositions) == ["shown", "shown", "suppressed", "suppressed"]
    finally:
        for app in replicas:
            app.extensions["store"].close()
