"""The JWK Set cache (fetch, rotation, throttling, limits) and the jti replay cache
(bounded, expiring, per issuer, atomic under concurrency)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cds_service.security_jwks import MAX_JWKS_BYTES, JwksCache, JwksError, fetch_jwk_set
from cds_service.security_replay import ReplayCache
from tests.security.conftest import (
    DISCOVERY,
    EHR_A,
    Keys,
    LocalHttpServer,
    bearer,
    jwk_set,
    make_token,
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
    assert app.extensions["cds_security"].verifier._replay._max == 7
