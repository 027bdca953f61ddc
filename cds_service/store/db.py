"""Database engine creation and schema migrations.

SQLite (the default) lives in one file in the data directory, in WAL mode so readers never
block the writer, with a busy timeout so concurrent writers queue instead of failing, and
``synchronous=FULL`` so a commit that was acknowledged survives a crash of the process or the
machine. Writes open ``BEGIN IMMEDIATE`` transactions: a deferred transaction that upgrades
from reading to writing can fail at once with "database is locked" when another process
committed in between, whatever the busy timeout.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from cds_service.settings import ConfigurationError

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_MS = 30_000
# Any fixed 64-bit number: the PostgreSQL advisory lock that serialises concurrent upgrades.
_PG_MIGRATION_LOCK = 0x6F73_7465_6F63_6473
WRITE = {"store_write": True}


SUPPORTED_BACKENDS = ("sqlite", "postgresql")


def create_store_engine(url: str, *, durable: bool = True) -> Engine:
    """An engine for ``url``; for SQLite the file's directory is created if missing.

    ``durable=False`` is for records whose loss in a power failure costs nothing but history
    (the JWT replay record): SQLite then skips the fsync of each commit, which survives a
    crash of the process all the same. PostgreSQL engines are always durable.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        # The message would quote the URL, password included.
        raise ConfigurationError(
            "DATABASE_URL is not a database URL such as "
            "postgresql+psycopg://user:password@host:5432/dbname"
        ) from None
    if parsed.drivername in {"postgres", "postgresql"}:
        # The common postgres:// and postgresql:// forms mean the installed driver, psycopg 3.
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in SUPPORTED_BACKENDS:
        raise ConfigurationError(
            f"DATABASE_URL: the {parsed.get_backend_name()!r} database is not supported; "
            "use PostgreSQL (postgresql+psycopg://...) or SQLite (the default)"
        )
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, synchronous="FULL" if durable else "NORMAL")
    try:
        return _postgres_engine(parsed, parsed.get_backend_name())
    except ArgumentError as exc:  # e.g. a driver that is not installed
        raise ConfigurationError(
            f"DATABASE_URL: {exc.__class__.__name__}: driver unusable"
        ) from None


def _postgres_engine(url: URL, backend: str) -> Engine:
    return create_engine(
        url,
        hide_parameters=True,  # error messages must not carry comments or identifiers
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=5,
        pool_timeout=10,
        connect_args=_postgres_connect_args(backend),
    )


def _postgres_connect_args(backend: str) -> dict[str, Any]:
    if backend != "postgresql":
        return {}
    return {"connect_timeout": 5, "application_name": "osteopenia-cds"}


def _sqlite_engine(url: str, synchronous: str) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        hide_parameters=True,  # error messages must not carry comments or identifiers
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself (the driver's implicit BEGIN is always deferred).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute(f"PRAGMA synchronous = {synchronous}")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get("store_write"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")

    return engine


@contextlib.contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that commits on success (before returning) and rolls back on error."""
    with engine.connect() as conn:
        conn.execution_options(**WRITE)
        with conn.begin():
            yield conn


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    # Alembic would otherwise reconfigure logging of the whole process.
    config.attributes["configure_logging"] = False
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def is_known_revision(revision: str) -> bool:
    """Whether ``revision`` is one of this release's migrations (else a newer release's)."""
    try:
        return ScriptDirectory.from_config(alembic_config()).get_revision(revision) is not None
    except CommandError:
        return False


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to ``revision``; safe when several processes start at once."""
    if engine.dialect.name == "sqlite":
        with _sqlite_migration_lock(engine):
            _run_upgrade(engine, revision)
        return
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            # Session-level lock: held across Alembic's own transactions on this connection.
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
            conn.commit()
        try:
            command.upgrade(alembic_config(conn), revision)
            conn.commit()
        finally:
            if engine.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _PG_MIGRATION_LOCK})
                conn.commit()


def _run_upgrade(engine: Engine, revision: str) -> None:
    with engine.connect() as conn:
        # Take the write lock up front: a transaction that reads the schema version and then
        # writes would fail at once if a serving process committed in between.
        conn.execution_options(**WRITE)
        command.upgrade(alembic_config(conn), revision)
        conn.commit()


@contextlib.contextmanager
def _sqlite_migration_lock(engine: Engine) -> Iterator[None]:
    database = make_url(str(engine.url)).database
    if not database or database == ":memory:":
        yield
        return
    lock_path = Path(database).with_name(Path(database).name + ".migrate.lock")
    with lock_path.open("a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
