"""The ``jti`` replay record shared by every process that serves this service.

gunicorn runs several workers per host, and a deployment runs several hosts; an in-process
cache alone would accept a replayed token once per process. The record is the ``jwt_jti``
table of the service's database (PostgreSQL shared by the replicas, or the single host's
SQLite file), in which one statement, ``INSERT ... ON CONFLICT (iss, jti) DO UPDATE ...
WHERE expired ... RETURNING``, either writes a row (first use, or reuse of an expired entry) or
writes none (a replay): atomic in the database, whichever process or replica asks. Entries
expire with their token and are purged in batches; each issuer is bounded like the in-memory
cache.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy import Connection, Engine, bindparam, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from cds_service.store.db import write_transaction
from cds_service.store.models import jwt_jti

log = logging.getLogger("cds_service.security")

PURGE_EVERY = 500  # inserts of this process between purges of expired entries

_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


class ReplayStoreError(Exception):
    """The shared record cannot be used; the caller falls back to its in-process cache."""


class SharedReplayStore:
    def __init__(
        self,
        engine: Engine,
        max_entries_per_issuer: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        insert = _INSERTS.get(engine.dialect.name)
        if insert is None:
            raise ReplayStoreError(f"unsupported database {engine.dialect.name!r}")
        self.engine = engine
        self._max = max_entries_per_issuer
        self._clock = clock
        self._lock = threading.Lock()
        self._inserts = 0
        stmt = insert(jwt_jti).values(
            iss=bindparam("iss"), jti=bindparam("jti"), expires_at=bindparam("expires_at")
        )
        # A live entry changes no row: that, and only that, is a replay.
        self._record = stmt.on_conflict_do_update(
            index_elements=[jwt_jti.c.iss, jwt_jti.c.jti],
            set_={"expires_at": stmt.excluded.expires_at},
            where=jwt_jti.c.expires_at <= bindparam("now"),
        ).returning(jwt_jti.c.jti)

    def check(self) -> None:
        """Read the table now, so a start-up problem is reported at start-up."""
        try:
            with self.engine.connect() as conn:
                conn.execute(select(jwt_jti.c.jti).limit(1)).all()
        except SQLAlchemyError as exc:
            raise ReplayStoreError(f"jwt_jti: {type(exc).__name__}") from None

    def seen_before(self, iss: str, jti: str, expires_at: float) -> bool:
        now = self._clock()
        with self._lock:
            self._inserts += 1
            purge = self._inserts % PURGE_EVERY == 0
        try:
            with write_transaction(self.engine) as conn:
                written = conn.execute(
                    self._record, {"iss": iss, "jti": jti, "expires_at": expires_at, "now": now}
                ).first()
                if purge:
                    self._purge(conn, iss, now)
        except SQLAlchemyError as exc:
            raise ReplayStoreError(f"jwt_jti: {type(exc).__name__}") from None
        return written is None

    def _purge(self, conn: Connection, iss: str, now: float) -> None:
        conn.execute(delete(jwt_jti).where(jwt_jti.c.expires_at <= now))
        count = conn.execute(
            select(func.count()).select_from(jwt_jti).where(jwt_jti.c.iss == iss)
        ).scalar_one()
        excess = count - self._max
        if excess > 0:
            # Full of live entries: drop those closest to expiry. Only tokens that passed
            # every other check get here, so filling the record takes a trusted key.
            oldest = (
                select(jwt_jti.c.jti)
                .where(jwt_jti.c.iss == iss)
                .order_by(jwt_jti.c.expires_at)
                .limit(excess)
            )
            conn.execute(delete(jwt_jti).where(jwt_jti.c.iss == iss, jwt_jti.c.jti.in_(oldest)))
            log.warning(json.dumps({"event": "jti_store_full", "iss": iss, "capacity": self._max}))
