"""Durable storage: the card log, CDS Hooks feedback and card analytics.

``init_app`` opens the database (a SQLite file in the data directory unless ``DATABASE_URL``
names another), applies the Alembic migrations, and registers the card log, a readiness check
and the feedback and analytics routes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from cds_service.settings import Settings
from cds_service.store.card_log import CardLog
from cds_service.store.db import (
    create_store_engine,
    current_revision,
    head_revision,
    is_known_revision,
    upgrade,
)
from cds_service.store.patient_hash import load_or_create_salt
from cds_service.store.snoozes import SnoozeStore


@dataclass(frozen=True, slots=True)
class Store:
    settings: Settings
    engine: Engine
    card_log: CardLog
    snoozes: SnoozeStore
    # The JWT replay record's way in (cds_service.security.replay_store); None: ``engine``.
    replay_engine: Engine | None = None

    def close(self) -> None:
        self.card_log.close()
        self.engine.dispose()
        if self.replay_engine is not None and self.replay_engine is not self.engine:
            self.replay_engine.dispose()

    def readiness(self) -> dict[str, Any]:
        """Ready when the database answers and its schema is at the shipped head or newer."""
        try:
            revision = current_revision(self.engine)
        except SQLAlchemyError as exc:
            return {
                "name": "store",
                "ok": False,
                "detail": f"database unreachable: {type(exc).__name__}",
            }
        head = head_revision()
        if revision != head and revision is not None and not is_known_revision(revision):
            # A newer release migrated first (the migration Job runs before its rollout):
            # migrations only add, so this replica keeps serving until it is replaced.
            return {
                "name": "store",
                "ok": True,
                "detail": f"{self.engine.dialect.name} schema {revision}, newer than {head}",
            }
        if revision != head:
            return {
                "name": "store",
                "ok": False,
                "detail": f"schema at {revision}, expected {head}",
            }
        return {
            "name": "store",
            "ok": True,
            "detail": f"{self.engine.dialect.name} schema {revision}",
        }


def _migrated_by_a_newer_release(engine: Engine) -> bool:
    """A replica of the previous release, restarted during a rollout, finds the schema of
    the next one: it must start on it rather than fail to find that revision."""
    revision = current_revision(engine)
    return revision is not None and not is_known_revision(revision)


def open_store(settings: Settings, *, migrate: bool = True) -> Store:
    """Connect to the configured database, migrating it to the current schema first."""
    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_store_engine(settings.effective_database_url)
    if migrate and not _migrated_by_a_newer_release(engine):
        upgrade(engine)
    salt = settings.patient_hash_salt or load_or_create_salt(engine)
    return Store(
        settings=settings,
        engine=engine,
        card_log=CardLog(engine, salt),
        snoozes=SnoozeStore(engine, salt),
        replay_engine=_replay_engine(settings, engine),
    )


def _replay_engine(settings: Settings, engine: Engine) -> Engine:
    """PostgreSQL: the store's own pool. SQLite: the same file through a second engine that
    skips the fsync per commit, as a lost replay history is all a power cut could cost."""
    if engine.dialect.name != "sqlite":
        return engine
    return create_store_engine(settings.effective_database_url, durable=False)


def init_app(app: Flask, settings: Settings) -> None:
    from cds_service.store.routes import bp

    store = open_store(settings)
    app.extensions["store"] = store
    app.extensions["card_log"] = store.card_log
    app.extensions.setdefault("readiness", []).append(store.readiness)
    app.register_blueprint(bp)
