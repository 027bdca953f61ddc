"""The ``jti`` replay record shared by the worker processes of one host.

gunicorn runs several workers; an in-process cache alone would accept a replayed token once
per worker. This record is a small SQLite file next to the service's data, in which a
``(iss, jti)`` insert either succeeds (first use) or hits the primary key (a replay): one
atomic statement, whichever process asks. Entries expire with their token and are purged in
batches; each issuer is bounded like the in-memory cache.

Losing the file loses nothing but replay history, so it is written without fsync.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("cds_service.security")

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS jwt_jti ("
    " iss TEXT NOT NULL, jti TEXT NOT NULL, expires_at REAL NOT NULL,"
    " PRIMARY KEY (iss, jti)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS jwt_jti_expiry ON jwt_jti (expires_at)",
)
# First use, or reuse of an expired entry, changes a row; a live entry changes none.
_RECORD = (
    "INSERT INTO jwt_jti (iss, jti, expires_at) VALUES (?, ?, ?) "
    "ON CONFLICT (iss, jti) DO UPDATE SET expires_at = excluded.expires_at "
    "WHERE jwt_jti.expires_at <= ?"
)
_PURGE_EVERY = 500  # inserts between purges of expired entries


class ReplayStoreError(Exception):
    """The shared record cannot be used; the caller falls back to its in-process cache."""


class SharedReplayStore:
    def __init__(
        self,
        path: Path,
        max_entries_per_issuer: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._path = path
        self._max = max_entries_per_issuer
        self._clock = clock
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid: int | None = None
        self._inserts = 0

    def _connection(self) -> sqlite3.Connection:
        # A connection must not cross a fork (gunicorn --preload builds the app in the master).
        if self._conn is None or self._pid != os.getpid():
            try:
                self._path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(
                    self._path, timeout=5.0, isolation_level=None, check_same_thread=False
                )
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=OFF")
                for statement in _SCHEMA:
                    conn.execute(statement)
            except (OSError, sqlite3.Error) as exc:
                raise ReplayStoreError(f"{self._path}: {exc}") from None
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    def check(self) -> None:
        """Open (and create) the record now, so a start-up problem is reported at start-up."""
        with self._lock:
            self._connection()

    def seen_before(self, iss: str, jti: str, expires_at: float) -> bool:
        now = self._clock()
        with self._lock:
            try:
                conn = self._connection()
                changed = conn.execute(_RECORD, (iss, jti, expires_at, now)).rowcount
                self._inserts += 1
                if self._inserts % _PURGE_EVERY == 0:
                    self._purge(conn, iss, now)
            except sqlite3.Error as exc:
                raise ReplayStoreError(f"{self._path}: {exc}") from None
        return changed == 0

    def _purge(self, conn: sqlite3.Connection, iss: str, now: float) -> None:
        conn.execute("DELETE FROM jwt_jti WHERE expires_at <= ?", (now,))
        (count,) = conn.execute("SELECT count(*) FROM jwt_jti WHERE iss = ?", (iss,)).fetchone()
        excess = count - self._max
        if excess > 0:
            conn.execute(
                "DELETE FROM jwt_jti WHERE iss = ? AND jti IN "
                "(SELECT jti FROM jwt_jti WHERE iss = ? ORDER BY expires_at LIMIT ?)",
                (iss, iss, excess),
            )
            log.warning(json.dumps({"event": "jti_store_full", "iss": iss, "capacity": self._max}))

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None
