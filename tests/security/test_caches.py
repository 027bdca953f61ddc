"""The JWK Set cache (fetch, rotation, throttling, limits) and the jti replay cache
(bounded, expiring, per issuer, atomic under concurrency)."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from cds_service.security.jwks import MAX_JWKS_BYTES, JwksCache, fetch_jwk_set
from cds_service.security.keys import JwksError
from cds_service.security.replay import ReplayCache
from cds_service.security.replay_store import PURGE_EVERY, SharedReplayStore
from cds_service.store.db import create_store_engine, upgrade
from tests.security.conftest import (
    DISCOVERY,
    EHR_A,
    Keys,
    LocalHttpServer,
    bearer,
    jwk_set,
    make_token,
    write_issuers,
)


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def _use_clock(app: Flask, clock: FakeClock) -> None:
    """Drive the app's JWKS cache by a clock the test moves."""
    app.extensions["cds_security"].verifier._jwks._clock = clock


# ------------------------------------------------------------------------------ JWKS


def test_req_197_jwks_fetched_once_and_cached(
    client: FlaskClient, keys: Keys, jwks: LocalHttpServer
) -> None:
    for _ in range(5):
        assert client.get(DISCOVERY, headers=bearer(make_token(keys.a_es))).status_code == 200
    assert jwks.hits("/a/jwks.json") == 1


def test_key_rotation_picked_up_on_unknown_kid_at_most_once_a_minute(
    secure_app: Flask, keys: Keys, jwks: LocalHttpServer
) -> None:
    clock = FakeClock()
    _use_clock(secure_app, clock)
    client = secure_app.test_client()
    assert client.get(DISCOVERY, headers=bearer(make_token(keys.a_es))).status_code == 200
    assert jwks.hits("/a/") == 1

    # The EHR rotates to a new key.
    jwks.serve_json("/a/jwks.json", jwk_set(keys.a_next, keys.a_es))
    clock.now += 10
    # Within the minute the new kid is not fetched for...
    for _ in range(20):
        response = client.get(DISCOVERY, headers=bearer(make_token(keys.a_next)))
        assert response.status_code == 401
    assert jwks.hits("/a/") == 1
    # ...a minute after the last fetch it is, once, and then accepted.
    clock.now += 51
    assert client.get(DISCOVERY, headers=bearer(make_token(keys.a_next))).status_code == 200
    assert jwks.hits("/a/") == 2
    # Made-up kids cannot make it fetch again within the next minute.
    for n in range(20):
        token = make_token(keys.a_next, header={"kid": f"made-up-{n}"})
        assert client.get(DISCOVERY, headers=bearer(token)).status_code == 401
        clock.now += 2
    assert jwks.hits("/a/") == 2


def test_jwks_refetched_when_old_so_removed_keys_stop_working(
    secure_app: Flask, keys: Keys, jwks: LocalHttpServer
) -> None:
    clock = FakeClock()
    _use_clock(secure_app, clock)
    client = secure_app.test_client()
    assert client.get(DISCOVERY, headers=bearer(make_token(keys.a_rs))).status_code == 200
    jwks.serve_json("/a/jwks.json", jwk_set(keys.a_es))  # RS key withdrawn
    clock.now += 3601
    assert client.get(DISCOVERY, headers=bearer(make_token(keys.a_rs))).status_code == 401
    assert client.get(DISCOVERY, headers=bearer(make_token(keys.a_es))).status_code == 200


def test_jwks_unavailable_is_401_then_recovers(
    secure_app: Flask, keys: Keys, jwks: LocalHttpServer
) -> None:
    clock = FakeClock()
    _use_clock(secure_app, clock)
    client = secure_app.test_client()
    saved = jwks.routes.pop("/a/jwks.json")
    assert client.get(DISCOVERY, headers=bearer(make_token(keys.a_es))).status_code == 401
    jwks.routes["/a/jwks.json"] = saved
    clock.now += 61
    assert client.get(DISCOVERY, headers=bearer(make_token(keys.a_es))).status_code == 200


def test_jwks_fetch_limits(jwks_server: LocalHttpServer, keys: Keys) -> None:
    big = {"keys": [keys.a_es.public_jwk], "padding": "x" * (MAX_JWKS_BYTES + 10)}
    jwks_server.serve_json("/limits/big.json", big)
    with pytest.raises(JwksError, match="larger than"):
        fetch_jwk_set(jwks_server.url("/limits/big.json"))
    jwks_server.routes["/limits/redirect"] = lambda _p: (
        302,
        {"Location": jwks_server.url("/a/jwks.json")},
        b"",
    )
    with pytest.raises(JwksError, match="HTTP 302"):
        fetch_jwk_set(jwks_server.url("/limits/redirect"))
    jwks_server.routes["/limits/html"] = lambda _p: (200, {}, b"<html>")
    with pytest.raises(JwksError, match="not JSON"):
        fetch_jwk_set(jwks_server.url("/limits/html"))


def test_fetched_set_skips_bad_keys_but_keeps_good_ones(keys: Keys) -> None:
    data = {
        "keys": [
            {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
            {**keys.a_es.public_jwk, "kid": "enc-key", "use": "enc"},
            keys.a_es.public_jwk,
        ]
    }
    cache = JwksCache(fetch=lambda url: data)
    assert list(cache.keys("https://x.example/jwks")) == [keys.a_es.kid]


def test_concurrent_first_use_fetches_once(keys: Keys) -> None:
    calls: list[str] = []
    gate = threading.Event()

    def slow_fetch(url: str) -> dict[str, Any]:
        calls.append(url)
        gate.wait(2)
        return jwk_set(keys.a_es)

    cache = JwksCache(fetch=slow_fetch)
    results: list[Any] = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.keys("https://x/j"))) for _ in range(8)
    ]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert len(results) == 8


# ---------------------------------------------------------------------------- replay


def test_replay_cache_expires_entries() -> None:
    clock = FakeClock()
    cache = ReplayCache(10, clock=clock)
    assert cache.seen_before(EHR_A, "j1", expires_at=1100) is False
    assert cache.seen_before(EHR_A, "j1", expires_at=1100) is True
    clock.now = 1101
    # Expired: the token itself would be refused by its exp, so the entry can go.
    assert cache.seen_before(EHR_A, "j1", expires_at=1200) is False
    assert len(cache) == 1


def test_replay_cache_is_bounded_per_issuer() -> None:
    clock = FakeClock()
    cache = ReplayCache(100, clock=clock)
    for n in range(1000):
        cache.seen_before("https://busy.example", f"j{n}", expires_at=2000 + n)
    assert cache.seen_before("https://quiet.example", "q1", expires_at=5000) is False
    assert len(cache) == 101
    # The newest entries of the busy issuer and the quiet issuer's entry survive.
    assert cache.seen_before("https://busy.example", "j999", expires_at=9999) is True
    assert cache.seen_before("https://quiet.example", "q1", expires_at=5000) is True


def test_replay_cache_one_winner_under_concurrency() -> None:
    cache = ReplayCache(1000)
    barrier = threading.Barrier(16)
    outcomes: list[bool] = []
    lock = threading.Lock()

    def use() -> None:
        barrier.wait()
        replay = cache.seen_before(EHR_A, "same-jti", expires_at=10**10)
        with lock:
            outcomes.append(replay)

    threads = [threading.Thread(target=use) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count(False) == 1


def test_replay_through_the_app_under_concurrency(secure_app: Flask, keys: Keys) -> None:
    token = make_token(keys.a_es)
    statuses: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def call() -> None:
        client = secure_app.test_client()
        barrier.wait()
        status = client.get(DISCOVERY, headers=bearer(token)).status_code
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] + [401] * 7


def test_jti_cache_size_setting_is_used(
    make_secure_app: Callable[..., Flask], issuer_entries: list[Any]
) -> None:
    app = make_secure_app(issuer_entries, jwt_jti_cache_size=7)
    guard = app.extensions["cds_security"].verifier._replay
    assert guard.memory._max == 7
    assert guard.shared._max == 7


# ------------------------------------------------------- replay record shared by workers


def _sqlite_record(path: Path, capacity: int, clock: Callable[[], float] = time.time) -> Any:
    engine = create_store_engine(f"sqlite:///{path}", durable=False)
    upgrade(engine)
    return SharedReplayStore(engine, capacity, clock=clock)


def test_shared_record_catches_a_replay_in_another_worker(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    worker_1 = _sqlite_record(path, 100)
    worker_2 = _sqlite_record(path, 100)
    assert worker_1.seen_before(EHR_A, "j-1", expires_at=time.time() + 300) is False
    assert worker_2.seen_before(EHR_A, "j-1", expires_at=time.time() + 300) is True
    assert worker_2.seen_before("https://other.example", "j-1", time.time() + 300) is False
    worker_1.engine.dispose()
    worker_2.engine.dispose()


def test_shared_record_across_processes(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    here = _sqlite_record(path, 10)
    code = (
        "import sys, time;"
        "from cds_service.security.replay_store import SharedReplayStore;"
        "from cds_service.store.db import create_store_engine;"
        "s = SharedReplayStore(create_store_engine(sys.argv[1], durable=False), 10);"
        "print(s.seen_before('https://ehr-a.example.org', 'j-proc', time.time() + 300))"
    )
    first = subprocess.run(
        [sys.executable, "-c", code, f"sqlite:///{path}"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert first.stdout.strip() == "False"
    assert here.seen_before(EHR_A, "j-proc", time.time() + 300) is True
    here.engine.dispose()


def test_shared_record_expires_and_is_bounded(tmp_path: Path) -> None:
    clock = FakeClock()
    store = _sqlite_record(tmp_path / "r.sqlite3", 50, clock=clock)
    assert store.seen_before(EHR_A, "old", expires_at=1010) is False
    clock.now = 1011
    assert store.seen_before(EHR_A, "old", expires_at=1400) is False  # expired: reusable
    for n in range(1000):  # two purges with the bound applied
        store.seen_before(EHR_A, f"n{n}", expires_at=2000 + n)
    with store.engine.connect() as conn:
        count = conn.execute(text("SELECT count(*) FROM jwt_jti")).scalar_one()
    assert count <= 50 + PURGE_EVERY
    assert store.seen_before(EHR_A, "n999", expires_at=9999) is True
    store.engine.dispose()


def test_unusable_shared_record_falls_back_to_the_process_cache(
    make_secure_app: Callable[..., Flask],
    issuer_entries: list[Any],
    keys: Keys,
    captured_logs: Any,
) -> None:
    app = make_secure_app(issuer_entries)
    record = app.extensions["cds_security"].verifier._replay.shared
    with record.engine.begin() as conn:
        conn.execute(text("DROP TABLE jwt_jti"))
    client = app.test_client()
    token = make_token(keys.a_es)
    assert client.get(DISCOVERY, headers=bearer(token)).status_code == 200
    assert "jti_store_failed" in captured_logs.text
    assert client.get(DISCOVERY, headers=bearer(token)).status_code == 401


def _concurrently(n: int, url: str, headers: dict[str, str]) -> list[tuple[int, str]]:
    barrier = threading.Barrier(n)
    answers: list[tuple[int, str]] = []
    lock = threading.Lock()

    def get() -> None:
        barrier.wait()
        response = requests.get(url, headers=headers, timeout=10)
        with lock:
            answers.append((response.status_code, response.headers.get("X-Worker-Pid", "")))

    threads = [threading.Thread(target=get) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def test_replay_refused_by_any_gunicorn_worker(tmp_path: Path, keys: Keys) -> None:
    from tests.security.test_startup import _gunicorn
    from tests.support.net import free_port

    port = free_port()
    issuers = write_issuers(
        tmp_path / "issuers.json",
        [{"iss": EHR_A, "jwks": jwk_set(keys.a_es), "fhir_servers": []}],
    )
    proc = _gunicorn(
        tmp_path,
        "-c",
        "python:cds_service.gunicorn_conf",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "3",
        "tests.security.wsgi_stub:build()",
        env={"CDS_TRUSTED_ISSUERS_FILE": str(issuers)},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                requests.get(f"{base}/healthz", timeout=2)
                break
            except requests.RequestException:
                time.sleep(0.2)
        # Concurrent uses of one token reach several workers; only one may succeed.
        workers: set[str] = set()
        for _ in range(10):
            token = make_token(keys.a_es, aud=f"{base}{DISCOVERY}")
            answers = _concurrently(12, f"{base}{DISCOVERY}", bearer(token))
            assert sorted(status for status, _pid in answers) == [200] + [401] * 11
            workers |= {pid for _status, pid in answers}
            if len(workers) > 1:
                break
        assert len(workers) > 1, "the requests never reached a second worker"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
