"""Where the EHR's FHIR access token may go: only to a server on the caller's allow-list."""

from __future__ import annotations

from flask import current_app, g, has_request_context

from cds_service.security.authentication import EXTENSION, SecurityState
from cds_service.security.urls import UrlError, canonical_url
from cds_service.security.verifier import CdsClient
from cds_service.settings import Settings


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
