"""HTTP endpoints of the store: CDS Hooks feedback and card analytics."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from flask import Blueprint, Response, current_app, g, jsonify, request
from sqlalchemy.exc import SQLAlchemyError

from cds_service.discovery import services_with_id
from cds_service.errors import Issue, ServiceError, error_response
from cds_service.hook_request import parse_json_body
from cds_service.store import Store
from cds_service.store.analytics import BadPeriod, Period, Report, build_report, parse_period
from cds_service.store.dashboard import CONTENT_SECURITY_POLICY, default_period, render_dashboard
from cds_service.store.feedback import store_feedback
from cds_service.store.report import render_csv
from cds_service.store.validation import (
    FeedbackBatchTooLarge,
    FeedbackValidationError,
    validate_feedback_document,
)

logger = logging.getLogger(__name__)

bp = Blueprint("store", __name__)

# How long a client should wait before retrying after the database was unavailable.
RETRY_AFTER_SECONDS = 2


def _store() -> Store:
    store: Store = current_app.extensions["store"]
    return store


def _log_fields(**fields: object) -> None:
    log_fields = g.get("log_fields")
    if log_fields is not None:
        log_fields.update(fields)


def _database_unavailable(what: str, exc: SQLAlchemyError) -> Response:
    # Only the error's class: a database message can quote the statement and its values.
    logger.error("%s: database error %s", what, type(exc).__name__)
    _log_fields(reason="database_unavailable")
    message = (
        "The feedback store is unavailable; nothing was stored. Retry later."
        if what == "feedback"
        else "The feedback store is unavailable. Retry later."
    )
    response = error_response(503, [Issue(message, "transient")])
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


@bp.post("/cds-services/<service_id>/feedback")
def post_feedback(service_id: str) -> Response:
    _log_fields(service=service_id)
    if not services_with_id(service_id):
        raise ServiceError.single(
            404,
            f"No CDS service with id {service_id!r}.",
            code="not-found",
            reason="unknown_service",
        )
    if request.mimetype != "application/json":
        raise ServiceError.single(
            415,
            "Feedback must be sent as Content-Type: application/json.",
            code="not-supported",
            reason="unsupported_media_type",
        )
    store = _store()
    document = parse_json_body(request.get_data(cache=False), store.settings)
    try:
        items = validate_feedback_document(document)
    except FeedbackBatchTooLarge as exc:
        raise ServiceError.single(
            413, str(exc), code="too-costly", expression="feedback", reason="too_many_items"
        ) from None
    except FeedbackValidationError as exc:
        raise ServiceError(
            400,
            [
                Issue(
                    e.message if e.field == "$" else f"{e.field} {e.message}.", "invalid", e.field
                )
                for e in exc.errors
            ],
            reason="invalid_feedback",
        ) from None
    client = g.get("cds_client")
    governance = current_app.extensions.get("governance")
    try:
        # Cards this process issued in the last moments may still be queued: written first,
        # they are known cards to the join below, not unknown ones.
        store.card_log.flush()
        result = store_feedback(
            store.engine,
            service_id,
            items,
            client_iss=getattr(client, "iss", None),
            snooze_days=governance.config.snooze_days if governance else None,
            now=governance.clock() if governance else None,
        )
    except SQLAlchemyError as exc:
        return _database_unavailable("feedback", exc)
    _log_fields(
        feedback=result.received,
        feedbackStored=result.stored,
        feedbackUnknownCards=result.unknown_cards,
        feedbackSnoozed=result.snoozed,
    )
    return jsonify(
        {
            "received": result.received,
            "stored": result.stored,
            "duplicates": result.duplicates,
            "unknownCards": result.unknown_cards,
        }
    )


def _period(since: str | None, until: str | None) -> Period:
    try:
        return parse_period(since, until)
    except BadPeriod as exc:
        raise ServiceError.single(
            400, str(exc), expression=exc.parameter, reason="bad_period"
        ) from None


def _report(period: Period) -> Report:
    _store().card_log.flush()
    return build_report(_store().engine, period)


@bp.get("/analytics")
def analytics() -> Response:
    form = request.args.get("format", "json")
    if form not in ("json", "csv"):
        raise ServiceError.single(
            400, "'format' must be json or csv.", expression="format", reason="bad_format"
        )
    period = _period(request.args.get("since"), request.args.get("until"))
    try:
        report = _report(period)
    except SQLAlchemyError as exc:
        return _database_unavailable("analytics", exc)
    if form == "csv":
        response = current_app.response_class(render_csv(report), mimetype="text/csv")
        response.headers["Content-Disposition"] = 'attachment; filename="rule-analytics.csv"'
        return response
    return jsonify(report.as_json())


@bp.get("/analytics/dashboard")
def analytics_dashboard() -> Response:
    """The governance dashboard (HTML); the last 30 days unless a period is given."""
    if "since" in request.args or "until" in request.args:
        since, until = request.args.get("since", ""), request.args.get("until", "")
    else:
        since, until = default_period(datetime.now(UTC).date())
    period = _period(since, until)
    try:
        report = _report(period)
    except SQLAlchemyError as exc:
        return _database_unavailable("analytics", exc)
    response = current_app.response_class(
        render_dashboard(report, since=since, until=until), mimetype="text/html"
    )
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response
