"""``POST /cds-services/<id>``: validate the hook call, complete its prefetch, run the engine."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from flask import Blueprint, Response, current_app, g, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from cds_service import security
from cds_service.discovery import ServiceDefinition, find_service, services_with_id
from cds_service.errors import Issue, ServiceError
from cds_service.fetch_slots import FetchCapReached, FetchSlots
from cds_service.fhir_client import FhirClient
from cds_service.hook_request import HookRequest, parse_json_body, validate_hook_request
from cds_service.prefetch import PrefetchUnavailable, plan_prefetch, resolve_prefetch
from cds_service.service_response import service_response
from cds_service.settings import Settings

bp = Blueprint("hooks", __name__)
log = logging.getLogger("cds_service.hooks")


def _settings() -> Settings:
    return current_app.extensions["cds_settings"]


def _log_fields() -> dict[str, Any]:
    if "log_fields" not in g:
        g.log_fields = {}
    return g.log_fields


def fhir_server_refusal(fhir_server: str, settings: Settings) -> str | None:
    """Why the service may not fetch from ``fhir_server``, or None when it may.

    The fall-back fetch sends the EHR's token to this URL, so it must be one the deployment
    trusts: the configured allow-list when there is one, and https in production.
    """
    return security.fhir_server_refusal(fhir_server, settings)


def _require_json_content_type() -> None:
    if request.mimetype != "application/json":
        given = request.mimetype or "none"
        raise ServiceError.single(
            415,
            f"Content-Type must be application/json (got {given}).",
            code="not-supported",
            expression="Content-Type",
            reason="unsupported_media_type",
        )


def _read_body() -> bytes:
    """The request body, 413 when over the cap (Content-Length or streamed)."""
    body = request.get_data(cache=False)  # Werkzeug raises 413 for a declared length
    limit = _settings().max_body_bytes
    # A chunked body has no Content-Length; Werkzeug stops reading at the cap without
    # saying so, which would surface as truncated JSON instead of 413.
    if request.content_length is None and len(body) >= limit:
        raise RequestEntityTooLarge()
    return body


def _service_for(service_id: str, data: dict[str, Any]) -> ServiceDefinition:
    hook = data.get("hook")
    if not isinstance(hook, str) or not hook:
        raise ServiceError.single(
            400, "hook is required and must be a string.", code="required", expression="hook"
        )
    service = find_service(service_id, hook)
    if service is None:
        served = ", ".join(sorted({s.hook for s in services_with_id(service_id)}))
        raise ServiceError.single(
            400,
            f"Service {service_id} does not serve hook {hook!r}; it serves {served}.",
            code="not-supported",
            expression="hook",
            reason="hook_mismatch",
        )
    return service


@dataclass
class PrefetchUnavailableError(ServiceError):
    """412: prefetch keys neither supplied nor fetched; ``failures`` says why, per key."""

    failures: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, failures: dict[str, str], reason: str) -> PrefetchUnavailableError:
        issues = [
            Issue(
                f"Prefetch {key!r} is missing and could not be fetched: {why}.",
                "incomplete",
                f"prefetch.{key}",
            )
            for key, why in sorted(failures.items())
        ]
        return cls(412, issues, reason, failures)


def complete_prefetch(
    service: ServiceDefinition,
    hook_request: HookRequest,
    settings: Settings,
    client: FhirClient,
    slots: FetchSlots | None = None,
) -> dict[str, Any]:
    """The prefetch of the request, completed from its fhirServer; 412 if not.

    With ``slots``, a fall-back fetch runs only in a free slot of the fetch caps; over the cap
    the call is refused at once rather than queued behind a FHIR server that may never answer.
    """
    plan = plan_prefetch(service.prefetch, hook_request.prefetch)
    refusal = None
    fhir_server = hook_request.fhir_server
    if plan.to_fetch and fhir_server is not None:
        refusal = fhir_server_refusal(fhir_server, settings)
    auth = hook_request.fhir_authorization
    held = contextlib.nullcontext()
    if slots is not None and plan.to_fetch and fhir_server is not None and refusal is None:
        held = slots.hold(fhir_server)
    try:
        with held:
            return resolve_prefetch(
                plan,
                context=hook_request.context,
                fhir_server=fhir_server,
                access_token=auth.access_token if auth else None,
                client=client,
                deadline_seconds=settings.fetch_deadline_seconds,
                max_bytes=settings.fhir_max_response_bytes,
                refusal=refusal,
            )
    except FetchCapReached as exc:
        failures = {key: exc.reason for key in plan.to_fetch}
        raise PrefetchUnavailableError.of(failures, "fetch_cap_reached") from None
    except PrefetchUnavailable as exc:
        raise PrefetchUnavailableError.of(exc.failures, "prefetch_unavailable") from None


@bp.post("/cds-services/<service_id>")
def call_service(service_id: str) -> Response:
    fields = _log_fields()
    if not services_with_id(service_id):
        raise ServiceError.single(
            404,
            f"No CDS Service with id {service_id!r}.",
            code="not-found",
            reason="unknown_service",
        )
    fields["service"] = service_id
    _require_json_content_type()
    data = parse_json_body(_read_body(), _settings())
    if isinstance(data.get("hookInstance"), str):
        fields["hookInstance"] = data["hookInstance"][:256]
    service = _service_for(service_id, data)
    hook_request = validate_hook_request(data, _settings())

    if hook_request.fhir_server is not None:
        fields["fhirServer"] = hook_request.fhir_server[:200]
    try:
        prefetch = complete_prefetch(
            service,
            hook_request,
            _settings(),
            current_app.extensions["fhir_client"],
            current_app.extensions.get("fetch_slots"),
        )
    except PrefetchUnavailableError as exc:
        fields["prefetchMissing"] = sorted(exc.failures)
        # Grouped by reason: a stalled server gives every key the same one.
        by_reason: dict[str, list[str]] = {}
        for key, why in sorted(exc.failures.items()):
            by_reason.setdefault(why, []).append(key)
        fields["fetchFailures"] = by_reason
        raise
    now = current_app.extensions["governance"].clock()
    if hook_request.draft_orders is None:
        cards, fingerprint = _assess(prefetch, hook_request.patient_id, now)
    else:
        cards, fingerprint = _check_orders(prefetch, hook_request, now)
    return _json_response(
        governed_response(service.id, hook_request, cards, fingerprint=fingerprint, now=now)
    )


def _assess(
    prefetch: dict[str, Any], patient_id: str, now: datetime
) -> tuple[list[dict[str, Any]], str | None]:
    """The engine's cards and the fingerprint of the facts they rest on (governance)."""
    engine = current_app.extensions["cds_engine"]
    assess = getattr(engine, "assess", None)
    if assess is None:  # an engine without facts (test doubles of the wiring)
        return engine.evaluate(prefetch, patient_id=patient_id, as_of=now.date()), None
    result: tuple[list[dict[str, Any]], str] = assess(
        prefetch, patient_id=patient_id, as_of=now.date()
    )
    return result


def _check_orders(
    prefetch: dict[str, Any], hook_request: HookRequest, now: datetime
) -> tuple[list[dict[str, Any]], str]:
    """order-select / order-sign: the order checks' cards and the facts' fingerprint."""
    answer = current_app.extensions["cds_engine"].evaluate_orders(
        prefetch,
        hook_request.draft_orders,
        patient_id=hook_request.patient_id,
        as_of=now.date(),
        selections=hook_request.selections,
    )
    if answer.unread:
        # Not an error: the order checks stay silent about a draft they cannot read.
        _log_fields()["draftsNotChecked"] = [
            f"{u.reference}: {u.reason}" for u in answer.unread[:20]
        ]
    return answer.cards, answer.facts_fingerprint


def governed_response(
    service_id: str,
    hook_request: HookRequest,
    cards: list[dict[str, Any]],
    *,
    fingerprint: str | None,
    now: datetime,
) -> dict[str, Any]:
    """The response body of a service call: the cards the rule modes and snoozes let through
    (cds_service.governance), every computed card written to the card log. Every service's
    cards go through here."""
    client = g.get("cds_client")
    user_id = hook_request.context.get("userId")
    governed = current_app.extensions["governance"].apply(
        cards,
        patient_id=hook_request.patient_id,
        user_id=user_id if isinstance(user_id, str) else None,
        issuer=getattr(client, "iss", None),
        facts_fingerprint=fingerprint,
        now=now,
    )
    body = service_response(governed.shown)
    fields = _log_fields()
    fields["cards"] = len(body["cards"])
    if governed.silent:
        fields["cardsSilent"] = len(governed.silent)
    if governed.suppressed:
        fields["cardsSuppressed"] = len(governed.suppressed)

    card_log = current_app.extensions.get("card_log")
    if card_log is not None:
        # A card log that can defer its write does so (the cards need not wait for a commit).
        record = getattr(card_log, "record_deferred", None) or card_log.record
        try:
            record(
                service_id=service_id,
                hook_instance=hook_request.hook_instance,
                patient_id=hook_request.patient_id,
                cards=body["cards"],
                silent=governed.silent,
                suppressed=governed.suppressed,
                facts_fingerprint=fingerprint,
            )
        except Exception:
            # The clinician's guidance must not be lost to a logging failure; the store
            # reports its own health through /readyz.
            log.exception("card log failed (hookInstance=%s)", hook_request.hook_instance)
    return body


def _json_response(body: dict[str, Any]) -> Response:
    """``jsonify`` through orjson (several times faster on a response full of cards)."""
    try:
        data = orjson.dumps(body)
    except TypeError:  # orjson.JSONEncodeError: e.g. a lone surrogate echoed from the request
        return jsonify(body)
    return current_app.response_class(data + b"\n", mimetype="application/json")
