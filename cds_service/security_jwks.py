"""JSON Web Key Sets of the trusted CDS Clients: parsing, and a cache of the fetched ones.

Only asymmetric signing keys of the ES/RS/PS families are ever loaded; a key that could stand
for a shared secret (``kty: oct``) or that carries private material is refused, so a
configuration mistake cannot turn into an HMAC or private-key verifier.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt
import requests
from cryptography.hazmat.primitives.asymmetric import ec, rsa

log = logging.getLogger("cds_service.security")

# The families CDS Hooks allows (RFC 7518 asymmetric signatures); never "none" or HS*.
ASYMMETRIC_ALGORITHMS = frozenset(
    {"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
)
_CURVE_OF_ALG = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
_MIN_RSA_BITS = 2048
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})

# A JWK Set is a few kB; anything much larger is a misconfiguration or an attack.
MAX_JWKS_BYTES = 256 * 1024
MAX_JWKS_KEYS = 100
JWKS_CONNECT_TIMEOUT = 2.0
JWKS_READ_TIMEOUT = 3.0
JWKS_TOTAL_DEADLINE = 5.0


class JwksError(ValueError):
    """A JWK Set could not be fetched or holds no usable key."""


@dataclass(frozen=True, slots=True)
class VerificationKey:
    kid: str
    kty: str  # "EC" | "RSA"
    curve: str | None  # for EC keys
    alg: str | None  # the JWK's own "alg", when it names one
    key: Any  # a cryptography public key object

    def accepts(self, alg: str) -> bool:
        """May a JWT whose header says ``alg`` be verified with this key?"""
        if self.alg is not None and self.alg != alg:
            return False
        if alg.startswith("ES"):
            return self.kty == "EC" and self.curve == _CURVE_OF_ALG.get(alg)
        if alg.startswith(("RS", "PS")):
            return self.kty == "RSA"
        return False


def parse_jwk(jwk: Any) -> VerificationKey:
    """One public signing JWK → VerificationKey; raises JwksError saying what is wrong."""
    if not isinstance(jwk, Mapping):
        raise JwksError("a key is not a JSON object")
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not kid.strip():
        raise JwksError("a key has no 'kid'")
    kty = jwk.get("kty")
    if kty not in {"EC", "RSA"}:
        raise JwksError(f"key {kid!r}: kty {kty!r} is not an EC or RSA public key")
    private = _PRIVATE_MEMBERS & set(jwk)
    if private:
        raise JwksError(f"key {kid!r} carries private key material ({', '.join(sorted(private))})")
    use = jwk.get("use")
    if use is not None and use != "sig":
        raise JwksError(f"key {kid!r}: use {use!r} is not 'sig'")
    alg = jwk.get("alg")
    if alg is not None and alg not in ASYMMETRIC_ALGORITHMS:
        raise JwksError(f"key {kid!r}: alg {alg!r} is not an ES/RS/PS signature algorithm")
    try:
        parsed = jwt.PyJWK(dict(jwk), algorithm=alg)
    except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError, KeyError) as exc:
        raise JwksError(f"key {kid!r} cannot be read: {exc}") from None
    key = parsed.key
    curve: str | None = None
    if isinstance(key, ec.EllipticCurvePublicKey):
        curve = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}.get(
            key.curve.name
        )
        if curve is None:
            raise JwksError(f"key {kid!r}: curve {key.curve.name} is not allowed")
    elif isinstance(key, rsa.RSAPublicKey):
        if key.key_size < _MIN_RSA_BITS:
            raise JwksError(f"key {kid!r}: RSA key of {key.key_size} bits is too short")
    else:
        raise JwksError(f"key {kid!r} is not a public EC or RSA key")
    if alg is not None and not VerificationKey(kid, kty, curve, alg, key).accepts(alg):
        raise JwksError(f"key {kid!r}: alg {alg} does not fit a {kty} {curve or ''} key")
    return VerificationKey(kid=kid, kty=kty, curve=curve, alg=alg, key=key)


def parse_jwk_set(data: Any, *, strict: bool, source: str) -> dict[str, VerificationKey]:
    """A JWK Set → {kid: key}. ``strict`` (configuration) raises on any bad key; otherwise
    (fetched sets) a bad key is skipped and logged so the issuer's other keys keep working."""
    if not isinstance(data, Mapping) or not isinstance(data.get("keys"), list):
        raise JwksError(f"{source}: not a JWK Set (an object with a 'keys' array)")
    if len(data["keys"]) > MAX_JWKS_KEYS:
        raise JwksError(f"{source}: more than {MAX_JWKS_KEYS} keys")
    keys: dict[str, VerificationKey] = {}
    for raw in data["keys"]:
        try:
            key = parse_jwk(raw)
        except JwksError as exc:
            if strict:
                raise JwksError(f"{source}: {exc}") from None
            log.warning(
                "jwks key skipped",
                extra={"event": "jwks_key_skipped", "source": source, "problem": str(exc)},
            )
            continue
        if key.kid in keys:
            # kid MUST be unique within a set; with two candidates we could not tell which.
            raise JwksError(f"{source}: kid {key.kid!r} appears more than once")
        keys[key.kid] = key
    if not keys:
        raise JwksError(f"{source}: no usable public signing key")
    return keys


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
