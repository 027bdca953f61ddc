"""Start-up safety: never serve without authentication anywhere but loopback.

Without a trusted-issuers file authentication is off, which is allowed only on a loopback
address and never in production. ``check_startup_safety`` is called with the bind address by
``serve`` and gunicorn's ``on_starting`` hook, and without one by ``create_app``.
"""

from __future__ import annotations

import os
import sys

from cds_service.security.issuers import IssuerRegistry, load_trusted_issuers
from cds_service.security.keys import ASYMMETRIC_ALGORITHMS
from cds_service.security.urls import UrlError, canonical_url, is_loopback_host
from cds_service.settings import ConfigurationError, Settings

# Set when gunicorn loaded cds_service.gunicorn_conf, whose on_starting hook checks the bind
# addresses; create_app refuses to run unauthenticated under gunicorn without it.
_gunicorn_bind_gate = False


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
