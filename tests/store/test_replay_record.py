"""The JWT replay record in the store's database, as replicas sharing PostgreSQL use it.

Each "replica" here is its own engine (its own connection pool), as separate hosts would
have; the record must let exactly one of them accept a given (iss, jti).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from cds_service.security.replay_store import PURGE_EVERY, SharedReplayStore
from cds_service.settings import Settings
from cds_service.store import open_store
from cds_service.store.db import create_store_engine, upgrade
from cds_service.store.models import jwt_jti

ISS = "https://ehr.example.org"


@pytest.fixture
def replicas(store_settings: Settings) -> Iterator[list[SharedReplayStore]]:
    url = store_settings.effective_database_url
    if store_settings.database_url is None:
        store_settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(create_store_engine(url))
    stores = [SharedReplayStore(create_store_engine(url, durable=False), 1000) for _ in range(4)]
    yield stores
    for store in stores:
        store.engine.dispose()


def test_a_jti_used_on_one_replica_is_refused_by_another(
    replicas: list[SharedReplayStore],
) -> None:
    first, second = replicas[:2]
    expires = time.time() + 300
    assert first.seen_before(ISS, "jti-1", expires) is False
    assert second.seen_before(ISS, "jti-1", expires) is True
    assert first.seen_before(ISS, "jti-1", expires) is True
    # A jti is unique only within its issuer.
    assert second.seen_before("https://other.example.org", "jti-1", expires) is False


def test_concurrent_uses_on_every_replica_have_one_winner(
    replicas: list[SharedReplayStore],
) -> None:
    for round_ in range(10):
        barrier = threading.Barrier(len(replicas) * 2)
        results: list[bool] = []
        lock = threading.Lock()

        def use(
            store: SharedReplayStore,
            jti: str = f"race-{round_}",
            barrier: threading.Barrier = barrier,
            results: list[bool] = results,
            lock: threading.Lock = lock,
        ) -> None:
            barrier.wait()
            seen = store.seen_before(ISS, jti, time.time() + 300)
            with lock:
                results.append(seen)

        threads = [
            threading.Thread(target=use, args=(store,)) for store in replicas for _ in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(results) == [False] + [True] * (len(threads) - 1)


def test_expired_entries_are_reusable_purged_and_each_issuer_bounded(
    store_settings: Settings,
) -> None:
    url = store_settings.effective_database_url
    if store_settings.database_url is None:
        store_settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(create_store_engine(url))
    now = [1000.0]
    store = SharedReplayStore(create_store_engine(url, durable=False), 50, clock=lambda: now[0])
    other = SharedReplayStore(create_store_engine(url, durable=False), 50, clock=lambda: now[0])
    try:
        assert store.seen_before(ISS, "old", expires_at=1010) is False
        assert other.seen_before("https://quiet.example.org", "q", expires_at=5000) is False
        now[0] = 1011
        assert other.seen_before(ISS, "old", expires_at=1400) is False  # expired: reusable
        for n in range(2 * PURGE_EVERY):
            store.seen_before(ISS, f"n{n}", expires_at=2000 + n)
        with store.engine.connect() as conn:
            per_issuer = dict(
                conn.execute(select(jwt_jti.c.iss, func.count()).group_by(jwt_jti.c.iss)).all()
            )
        # Purged down to the bound at the last purge, plus what came in since.
        assert per_issuer[ISS] <= 50 + PURGE_EVERY
        # One busy issuer does not push another's entries out.
        assert per_issuer["https://quiet.example.org"] == 1
        # The newest entries survive the bound.
        assert other.seen_before(ISS, f"n{2 * PURGE_EVERY - 1}", expires_at=9999) is True
    finally:
        store.engine.dispose()
        other.engine.dispose()


def test_the_store_gives_the_replay_record_its_way_in(store_settings: Settings) -> None:
    """PostgreSQL: the store's pool. SQLite: the same file, without an fsync per commit."""
    store = open_store(store_settings)
    try:
        if store.engine.dialect.name == "postgresql":
            assert store.replay_engine is store.engine
            return
        assert store.replay_engine is not None and store.replay_engine is not store.engine
        assert store.replay_engine.url == store.engine.url
        with store.replay_engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    finally:
        store.close()
