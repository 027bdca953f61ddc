"""The JWK Sets trusted CDS Clients publish: fetched within bounds, and cached per URL.

Each process keeps its own cache. Replicas may hold different generations of a set for up to
``max_age``; a key rotation reaches each of them on its first unknown ``kid``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from cds_service.security.keys import JwksError, VerificationKey, parse_jwk_set

log = logging.getLogger("cds_service.security")

# A JWK Set is a few kB; anything much larger is a misconfiguration or an attack.
MAX_JWKS_BYTES = 256 * 1024
JWKS_CONNECT_TIMEOUT = 2.0
JWKS_READ_TIMEOUT = 3.0
JWKS_TOTAL_DEADLINE = 5.0


def fetch_jwk_set(url: str, session: requests.Session | None = None) -> dict[str, Any]:
    """GET a JWK Set: short timeouts, no redirects (the configured URL is the trusted one),
    a size cap and a total deadline."""
    getter = session or requests
    deadline = time.monotonic() + JWKS_TOTAL_DEADLINE
    try:
        resp = getter.get(
            url,
            timeout=(JWKS_CONNECT_TIMEOUT, JWKS_READ_TIMEOUT),
            allow_redirects=False,
            stream=True,
            headers={"Accept": "application/json, application/jwk-set+json"},
        )
    except requests.RequestException as exc:
        raise JwksError(f"{url}: {type(exc).__name__}") from None
    with resp:
        if resp.status_code != 200:
            raise JwksError(f"{url}: HTTP {resp.status_code}")
        declared = resp.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > MAX_JWKS_BYTES:
            raise JwksError(f"{url}: larger than {MAX_JWKS_BYTES} bytes")
        body = bytearray()
        try:
            for chunk in resp.iter_content(chunk_size=16 * 1024):
                body.extend(chunk)
                if len(body) > MAX_JWKS_BYTES:
                    raise JwksError(f"{url}: larger than {MAX_JWKS_BYTES} bytes")
                if time.monotonic() > deadline:
                    raise JwksError(f"{url}: too slow")
        except requests.RequestException as exc:
            raise JwksError(f"{url}: {type(exc).__name__}") from None
    try:
        return json.loads(bytes(body))
    except (ValueError, UnicodeDecodeError):
        raise JwksError(f"{url}: not JSON") from None


@dataclass(slots=True)
class _Entry:
    keys: dict[str, VerificationKey] | None = None
    fetched_at: float | None = None  # last success
    attempted_at: float | None = None  # last attempt, successful or not
    lock: threading.Lock | None = None


class JwksCache:
    """Fetched JWK Sets by URL. A set is fetched on first use, again when older than
    ``max_age`` (so a revoked key stops working), and on demand (``refresh``) when a token
    names an unknown kid; never more than once per ``min_interval`` per URL, so a flood of
    tokens with made-up kids cannot turn into a flood of fetches."""

    def __init__(
        self,
        *,
        min_interval: float = 60.0,
        max_age: float = 3600.0,
        fetch: Callable[[str], Mapping[str, Any]] = fetch_jwk_set,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._min_interval = min_interval
        self._max_age = max_age
        self._fetch = fetch
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def _entry(self, url: str) -> _Entry:
        with self._lock:
            entry = self._entries.get(url)
            if entry is None:
                entry = self._entries[url] = _Entry(lock=threading.Lock())
            return entry

    def keys(self, url: str) -> dict[str, VerificationKey]:
        """The cached keys of ``url``, fetching when absent or stale (and allowed)."""
        entry = self._entry(url)
        now = self._clock()
        stale = entry.fetched_at is None or now - entry.fetched_at >= self._max_age
        if stale:
            self._load(url, entry, force=False)
        if entry.keys is None:
            raise JwksError(f"{url}: key set unavailable")
        return entry.keys

    def refresh(self, url: str) -> bool:
        """Fetch again because a token named an unknown kid. False when throttled."""
        return self._load(url, self._entry(url), force=True)

    def _load(self, url: str, entry: _Entry, *, force: bool) -> bool:
        assert entry.lock is not None
        with entry.lock:  # one fetch per URL at a time; the others wait and reuse it
            now = self._clock()
            if entry.attempted_at is not None and now - entry.attempted_at < self._min_interval:
                return False
            fresh = entry.fetched_at is not None and now - entry.fetched_at < self._max_age
            if not force and fresh:
                return False  # another thread refreshed it while we waited
            entry.attempted_at = now
            try:
                keys = parse_jwk_set(self._fetch(url), strict=False, source=url)
            except JwksError as exc:
                log.warning(
                    "jwks fetch failed",
                    extra={"event": "jwks_fetch_failed", "url": url, "problem": str(exc)},
                )
                return False
            entry.keys = keys
            entry.fetched_at = now
            log.info(
                "jwks fetched",
                extra={"event": "jwks_fetched", "url": url, "kids": sorted(keys)},
            )
            return True
