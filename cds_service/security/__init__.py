"""Authentication of the calling EHR and the limits on where its FHIR token may go.

One module per idea: ``urls`` (canonical URLs), ``keys`` (JWKs), ``jwks`` (fetched key sets),
``issuers`` (the trusted-issuers file), ``verifier`` (the JWT checks), ``replay`` and
``replay_store`` (each ``jti`` accepted once), ``startup`` (never unauthenticated off
loopback), ``authentication`` (the per-request hook) and ``fhir_access`` (the fhirServer
allow-list). Callers use the names re-exported here.
"""

from cds_service.security.authentication import (
    AUTH_OFF_DETAIL,
    EXTENSION,
    PUBLIC_PATHS,
    SecurityState,
    init_app,
    request_audiences,
)
from cds_service.security.fhir_access import fhir_server_refusal
from cds_service.security.issuers import IssuerRegistry, TrustedIssuer, load_trusted_issuers
from cds_service.security.jwks import JwksCache, fetch_jwk_set
from cds_service.security.keys import (
    ASYMMETRIC_ALGORITHMS,
    JwksError,
    VerificationKey,
    parse_jwk,
    parse_jwk_set,
)
from cds_service.security.replay import ReplayCache, ReplayGuard
from cds_service.security.replay_store import ReplayStoreError, SharedReplayStore
from cds_service.security.startup import (
    check_startup_safety,
    load_registry,
    mark_gunicorn_bind_gate,
)
from cds_service.security.urls import UrlError, canonical_url, is_loopback_host, origin
from cds_service.security.verifier import AuthError, CdsClient, JwtVerifier

__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "AUTH_OFF_DETAIL",
    "EXTENSION",
    "PUBLIC_PATHS",
    "AuthError",
    "CdsClient",
    "IssuerRegistry",
    "JwksCache",
    "JwksError",
    "JwtVerifier",
    "ReplayCache",
    "ReplayGuard",
    "ReplayStoreError",
    "SecurityState",
    "SharedReplayStore",
    "TrustedIssuer",
    "UrlError",
    "VerificationKey",
    "canonical_url",
    "check_startup_safety",
    "fetch_jwk_set",
    "fhir_server_refusal",
    "init_app",
    "is_loopback_host",
    "load_registry",
    "load_trusted_issuers",
    "mark_gunicorn_bind_gate",
    "origin",
    "parse_jwk",
    "parse_jwk_set",
    "request_audiences",
]
