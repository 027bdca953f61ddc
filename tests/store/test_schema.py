"""Migrations: the shipped schema matches the models, runs both ways, and `db upgrade`."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from cds_service.settings import ConfigurationError, Settings
from cds_service.store import open_store
from cds_service.store.db import (
    alembic_config,
    create_store_engine,
    current_revision,
    head_revision,
    upgrade,
)
from cds_service.store.models import metadata
from tests.store.test_analytics import CLI, cli_env
from tests.support.postgres import PostgresServer

TABLES = {
    "store_meta",
    "issued_cards",
    "issued_suggestions",
    "feedback",
    "feedback_suggestions",
    "jwt_jti",
    "rule_snoozes",
}


def test_migrated_schema_matches_the_models(store_settings: Settings) -> None:
    store = open_store(store_settings)
    try:
        with store.engine.connect() as conn:
            differences = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), metadata
            )
        assert differences == []
    finally:
        store.close()


def test_downgrade_to_nothing_and_back(store_settings: Settings) -> None:
    store = open_store(store_settings)
    try:
        with store.engine.connect() as conn:
            command.downgrade(alembic_config(conn), "base")
            conn.commit()
        assert TABLES.isdisjoint(inspect(store.engine).get_table_names())
        upgrade(store.engine)
        assert set(inspect(store.engine).get_table_names()) >= TABLES
        assert current_revision(store.engine) == head_revision()
    finally:
        store.close()


def test_db_upgrade_command(store_settings: Settings) -> None:
    for _ in range(2):  # the second run finds nothing to do
        result = subprocess.run(
            [CLI, "db", "upgrade"],
            env=cli_env(store_settings),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert f"revision {head_revision()}" in result.stdout
    engine = create_store_engine(store_settings.effective_database_url)
    try:
        assert set(inspect(engine).get_table_names()) >= TABLES
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "url",
    [
        "not a url",
        "mysql://user:hunter2@127.0.0.1/cds",
        "postgresql+nosuchdriver://user:hunter2@127.0.0.1/cds",
    ],
    ids=["garbage", "unsupported-database", "unknown-driver"],
)
def test_bad_database_url_is_a_configuration_error(url: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        create_store_engine(url)
    assert "hunter2" not in str(caught.value)


def test_bad_database_url_stops_the_cli_with_a_message(tmp_path: Path) -> None:
    env = cli_env(Settings(data_dir=tmp_path))
    env["DATABASE_URL"] = "mysql://user:hunter2@127.0.0.1/cds"
    result = subprocess.run(
        [CLI, "db", "upgrade"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "DATABASE_URL" in result.stderr
    assert "hunter2" not in result.stderr and "Traceback" not in result.stderr


def test_plain_postgresql_url_uses_the_installed_driver(postgres_server: PostgresServer) -> None:
    url = postgres_server.url().replace("postgresql+psycopg://", "postgresql://")
    engine = create_store_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT 1").scalar() == 1
    finally:
        engine.dispose()
