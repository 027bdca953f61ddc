"""Who may call the service, and where the EHR's FHIR access token may go.

* Every request except CORS preflights and the public probes (``/healthz``, ``/readyz``,
  ``/openapi.json``) must carry ``Authorization: Bearer <JWT>`` signed by a trusted issuer
  (``security_verifier``). A failure is a 401 with ``WWW-Authenticate: Bearer`` and no detail;
  the reason goes to the log. On success ``flask.g.cds_client`` says who called.
* Without a trusted-issuers file authentication is off, which is allowed only on a loopback
  address, never in production (``check_startup_safety``), and then only loopback peers are
  served: a second line of defence if the bind check was bypassed.
* ``fhir_server_refusal`` decides whether a request's ``fhirServer`` may be called with the
  request's access token: only a server on the authenticated caller's allow-list.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import sys
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, current_app, g, has_request_context, request

from cds_service.errors import Issue, error_response
from cds_service.security_issuers import IssuerRegistry, load_trusted_issuers
from cds_service.security_jwks import ASYMMETRIC_ALGORITHMS, JwksCache
from cds_service.security_replay import ReplayCache, ReplayGuard
from cds_service.security_replay_store import ReplayStoreError, SharedReplayStore
from cds_service.security_urls import UrlError, canonical_url, is_loopback_host
from cds_service.security_verifier import AuthError, CdsClient, JwtVerifier
from cds_service.settings import ConfigurationError, Settings

log = logging.getLogger("cds_service.security")

PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/openapi.json"})
AUTH_OFF_DETAIL = "authentication is off (development, loopback only)"
EXTENSION = "cds_security"

# Set when gunicorn loaded cds_service.gunicorn_conf, whose on_starting hook checks the bind
# addresses; create_app refuses to run unauthenticated under gunicorn without it.
_gunicorn_bind_gate = False


def _log(level: int, event: str, **fields: Any) -> None:
    """One JSON object per line, like the request log; never a token."""
    log.log(level, json.dumps({"event": event, **fields}, separators=(",", ":"), default=str))


# ---------------------------------------------------------------------------- start-up safety


def mark_gunicorn_bind_gate() -> None:
    global _gunicorn_bind_gate
    _gunicorn_bind_gate = True


def _running_under_gunicorn() -> bool:
    # gunicorn's arbiter sets SERVER_SOFTWARE before it loads the app (workers inherit it);
    # importing gunicorn alone (a test, a tool) does neither.
    return "gunicorn.arbiter" in sys.modules and os.environ.get("SERVER_SOFTWARE", "").startswith(
        "gunicorn/"
    )


def _check_algorithms(settings: Settings) -> None:
    if not settings.jwt_algorithms:
        raise ConfigurationError("CDS_JWT_ALGORITHMS is empty; ES384 and RS384 are the default")
    for alg in settings.jwt_algorithms:
        if alg not in ASYMMETRIC_ALGORITHMS:
            raise ConfigurationError(
                f"CDS_JWT_ALGORITHMS: {alg!r} is not allowed; CDS Hooks forbids 'none' and "
                f"symmetric (HS*) algorithms. Allowed: {', '.join(sorted(ASYMMETRIC_ALGORITHMS))}"
            )


def _check_public_base_urls(settings: Settings) -> None:
    for url in settings.public_base_urls:
        try:
            canonical_url(url)
        except UrlError as exc:
            raise ConfigurationError(f"CDS_PUBLIC_BASE_URLS: {url!r}: {exc}") from None


def _check_fhir_servers(settings: Settings) -> None:
    for url in settings.fhir_servers:
        try:
            canonical = canonical_url(url)
        except UrlError as exc:
            raise ConfigurationError(f"CDS_FHIR_SERVERS: {url!r}: {exc}") from None
        if settings.production and not canonical.startswith("https://"):
            raise ConfigurationError(f"CDS_FHIR_SERVERS: {url!r} must use https in production")


def load_registry(settings: Settings) -> IssuerRegistry | None:
    """The trusted issuers, or None when authentication is off. Raises ConfigurationError."""
    _check_algorithms(settings)
    _check_fhir_servers(settings)
    _check_public_base_urls(settings)
    if settings.trusted_issuers_file is None:
        return None
    return load_trusted_issuers(settings.trusted_issuers_file, production=settings.production)


def check_startup_safety(settings: Settings, bind_host: str | None) -> IssuerRegistry | None:
    """Refuse (ConfigurationError) to serve without authentication anywhere but loopback.

    ``bind_host`` is the address the server will listen on (``serve --host``, each gunicorn
    bind); None when the caller cannot know it (``create_app``), in which case only what can
    be known is checked: production, and gunicorn started without the bind gate.
    """
    registry = load_registry(settings)
    if registry is not None:
        return registry
    unset = "CDS_TRUSTED_ISSUERS_FILE is not set, so callers would not be authenticated"
    if settings.production:
        raise ConfigurationError(
            f"refusing to start: CDS_ENV=production but {unset}. List the EHRs allowed to call "
            "this service in a trusted-issuers file (see README, 'Registering an EHR')."
        )
    if bind_host is not None and not is_loopback_host(bind_host):
        raise ConfigurationError(
            f"refusing to listen on {bind_host or 'all interfaces'}: {unset}. Bind to "
            "127.0.0.1 for development, or set CDS_TRUSTED_ISSUERS_FILE (see README, "
            "'Registering an EHR')."
        )
    if bind_host is None and _running_under_gunicorn() and not _gunicorn_bind_gate:
        raise ConfigurationError(
            f"refusing to start under gunicorn: {unset} and the bind address cannot be "
            "checked. Start gunicorn with '-c python:cds_service.gunicorn_conf', or set "
            "CDS_TRUSTED_ISSUERS_FILE."
        )
    return None


# ---------------------------------------------------------------------------- per request


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


def _replay_guard(settings: Settings) -> ReplayGuard:
    memory = ReplayCache(settings.jwt_jti_cache_size)
    shared = SharedReplayStore(
        settings.data_dir / "jwt-replay.sqlite3", settings.jwt_jti_cache_size
    )
    try:
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
    registry = check_startup_safety(settings, bind_host=None)
    verifier = None
    if registry is not None:
        verifier = JwtVerifier(
            registry,
            algorithms=settings.jwt_algorithms,
            clock_skew_seconds=settings.jwt_clock_skew_seconds,
            max_lifetime_seconds=settings.jwt_max_lifetime_seconds,
            replay=_replay_guard(settings),
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


# ---------------------------------------------------------------------------- FHIR access


def fhir_server_refusal(fhir_server: str, settings: Settings) -> str | None:
    """Why the request's access token may not be sent to ``fhir_server`` (None: it may).

    With authentication on, only a base URL on the authenticated caller's ``fhir_servers``;
    with it off (development, loopback), any server unless ``CDS_FHIR_SERVERS`` limits it.
    In production only https. The answer names no token and no caller secret.
    """
    try:
        wanted = canonical_url(fhir_server, keep_trailing_slash=False)
    except UrlError as exc:
        return f"fhirServer is not a usable base URL ({exc})"
    if settings.production and not wanted.startswith("https://"):
        return "fhirServer must use https in production"

    state: SecurityState | None = None
    client: CdsClient | None = None
    if has_request_context():
        state = current_app.extensions.get(EXTENSION)
        client = g.get("cds_client")
    if state is not None and state.enabled:
        allowed = client.fhir_servers if client is not None else ()
        if wanted not in allowed:
            return "fhirServer is not one of the FHIR servers registered for this client"
        return None
    if settings.fhir_servers:
        allowed_off = {_canonical_base(u) for u in settings.fhir_servers}
        if wanted not in allowed_off:
            return "fhirServer is not one of the FHIR servers this service may call"
    return None


def _canonical_base(url: str) -> str | None:
    try:
        return canonical_url(url, keep_trailing_slash=False)
    except UrlError:
        return None
