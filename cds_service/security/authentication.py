"""Who may call the service: the JWT every request must carry.

* Every request except CORS preflights and the public probes (``/healthz``, ``/readyz``,
  ``/openapi.json``) must carry ``Authorization: Bearer <JWT>`` signed by a trusted issuer
  (``verifier``). A failure is a 401 with ``WWW-Authenticate: Bearer`` and no detail; the
  reason goes to the log. On success ``flask.g.cds_client`` says who called.
* With authentication off (development, see ``startup``) only loopback peers are served: a
  second line of defence if the bind check was bypassed.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, current_app, g, request
from sqlalchemy import Engine

from cds_service.errors import Issue, error_response
from cds_service.security.jwks import JwksCache
from cds_service.security.replay import ReplayCache, ReplayGuard
from cds_service.security.replay_store import ReplayStoreError, SharedReplayStore
from cds_service.security.startup import check_startup_safety
from cds_service.security.urls import UrlError, canonical_url
from cds_service.security.verifier import AuthError, JwtVerifier
from cds_service.settings import Settings

log = logging.getLogger("cds_service.security")

PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/openapi.json"})
AUTH_OFF_DETAIL = "authentication is off (development, loopback only)"
EXTENSION = "cds_security"


def _log(level: int, event: str, **fields: Any) -> None:
    """One JSON object per line, like the request log; never a token."""
    log.log(level, json.dumps({"event": event, **fields}, separators=(",", ":"), default=str))


@dataclass(slots=True)
class SecurityState:
    settings: Settings
    verifier: JwtVerifier | None  # None: authentication is off
    issuer_count: int

    @property
    def enabled(self) -> bool:
        return self.verifier is not None

    def readiness(self) -> dict[str, Any]:
        if not self.enabled:
            return {"name": "authentication", "ok": True, "detail": AUTH_OFF_DETAIL}
        return {
            "name": "authentication",
            "ok": True,
            "detail": f"JWT required; {self.issuer_count} trusted issuer entr"
            + ("y" if self.issuer_count == 1 else "ies"),
        }


def request_audiences(settings: Settings) -> frozenset[str]:
    """The URLs this request may have been addressed to: what ``aud`` must name.

    With ``CDS_PUBLIC_BASE_URLS`` set, the configured base URLs plus the path: the Host header
    is then irrelevant, so a token minted for another service cannot be replayed here with a
    forged Host. Otherwise the URL as the caller saw it; forwarded headers are believed only
    when the deployment says a proxy sets them.
    """
    path = f"{request.script_root}{request.path}"
    if settings.public_base_urls:
        return frozenset(canonical_url(f"{base}{path}") for base in settings.public_base_urls)
    scheme, host = request.scheme, request.host
    if settings.trust_proxy_headers:
        proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip()
        fwd_host = request.headers.get("X-Forwarded-Host", "").split(",")[0].strip()
        scheme = proto or scheme
        host = fwd_host or host
    return frozenset({canonical_url(f"{scheme}://{host}{path}")})


def _peer_is_loopback() -> bool:
    # The socket peer, not a forwarded address (ProxyFix keeps the original here).
    orig = request.environ.get("werkzeug.proxy_fix.orig", {})
    peer = orig.get("REMOTE_ADDR") or request.environ.get("REMOTE_ADDR")
    if not peer:
        return False
    try:
        return ipaddress.ip_address(peer).is_loopback
    except ValueError:
        return False


def _unauthorized(reason: str, **fields: Any) -> Response:
    log_fields = g.get("log_fields")
    if log_fields is not None:
        log_fields["reason"] = f"unauthorized:{reason}"
    _log(
        logging.WARNING,
        "auth_rejected",
        reason=reason,
        method=request.method,
        path=request.path[:200],
        **fields,
    )
    response = error_response(401, [Issue("unauthorized", "login")])
    response.headers["WWW-Authenticate"] = "Bearer"
    response.headers["Cache-Control"] = "no-store"
    return response


def _bearer_token() -> str | None:
    header = request.headers.get("Authorization")
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    token = token.strip()
    return token or None


def _authenticate() -> Response | None:
    if request.method == "OPTIONS" or request.path in PUBLIC_PATHS:
        return None
    state: SecurityState = current_app.extensions[EXTENSION]
    if state.verifier is None:
        if not _peer_is_loopback():
            return _unauthorized("auth_off_remote_peer")
        return None
    token = _bearer_token()
    if token is None:
        return _unauthorized("missing_bearer")
    try:
        audiences = request_audiences(state.settings)
    except UrlError:
        return _unauthorized("bad_request_url")
    try:
        client = state.verifier.verify(token, audiences)
    except AuthError as exc:
        return _unauthorized(exc.reason, **exc.fields)
    g.cds_client = client
    log_fields = g.get("log_fields")
    if log_fields is not None:
        log_fields["iss"] = client.iss
        if client.tenant:
            log_fields["tenant"] = client.tenant
    return None


def _replay_guard(settings: Settings, store_engine: Engine | None) -> ReplayGuard:
    memory = ReplayCache(settings.jwt_jti_cache_size)
    try:
        if store_engine is None:
            raise ReplayStoreError("no store")
        shared = SharedReplayStore(store_engine, settings.jwt_jti_cache_size)
        shared.check()
    except ReplayStoreError as exc:
        _log(
            logging.WARNING,
            "jti_store_unavailable",
            detail="replays are caught per worker process only",
            problem=str(exc)[:300],
        )
        return ReplayGuard(memory)
    return ReplayGuard(memory, shared, (ReplayStoreError,))


def init_app(app: Flask, settings: Settings) -> None:
    """After ``store.init_app``: the replay record is a table of the store's database."""
    store = app.extensions.get("store")
    store_engine: Engine | None = None
    if store is not None:
        store_engine = store.replay_engine or store.engine
    registry = check_startup_safety(settings, bind_host=None)
    verifier = None
    if registry is not None:
        verifier = JwtVerifier(
            registry,
            algorithms=settings.jwt_algorithms,
            clock_skew_seconds=settings.jwt_clock_skew_seconds,
            max_lifetime_seconds=settings.jwt_max_lifetime_seconds,
            replay=_replay_guard(settings, store_engine),
            jwks_cache=JwksCache(),
        )
        _log(
            logging.INFO,
            "authentication_on",
            issuers=sorted({i.label for i in registry}),
            algorithms=list(settings.jwt_algorithms),
        )
        if settings.production and not settings.public_base_urls:
            _log(
                logging.WARNING,
                "public_base_urls_unset",
                detail="the JWT aud is checked against the request's Host header; set "
                "CDS_PUBLIC_BASE_URLS so a token minted for another service cannot be "
                "replayed here with a forged Host",
            )
    else:
        _log(
            logging.WARNING,
            "authentication_off",
            detail=AUTH_OFF_DETAIL.upper()
            + ": any local process can call this service; set CDS_TRUSTED_ISSUERS_FILE "
            "before exposing it",
        )
    state = SecurityState(
        settings=settings, verifier=verifier, issuer_count=len(registry) if registry else 0
    )
    app.extensions[EXTENSION] = state
    app.extensions.setdefault("readiness", []).append(state.readiness)
    app.before_request(_authenticate)
