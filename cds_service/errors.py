"""JSON error bodies for every failure path.

Errors are FHIR OperationOutcome resources: CDS Hooks 3.0 recommends them for non-2xx answers,
EHR integrators already parse them, and each issue names the offending field in ``expression``.
No stack trace, token or patient identifier ever appears in a body.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, g, jsonify
from werkzeug.exceptions import HTTPException

log = logging.getLogger("cds_service.errors")

# FHIR IssueType per HTTP status, for errors raised by Flask/Werkzeug themselves.
_ISSUE_CODE_BY_STATUS = {
    400: "invalid",
    404: "not-found",
    405: "not-supported",
    412: "incomplete",
    413: "too-costly",
    415: "not-supported",
    429: "throttled",
}


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem: what is wrong, in words, and where (a JSON path like ``context.userId``)."""

    diagnostics: str
    code: str = "invalid"
    expression: str | None = None

    def to_json(self) -> dict[str, Any]:
        issue: dict[str, Any] = {
            "severity": "error",
            "code": self.code,
            "diagnostics": self.diagnostics,
        }
        if self.expression:
            issue["expression"] = [self.expression]
        return issue


@dataclass
class ServiceError(Exception):
    """A request the service refuses, with the HTTP status and the issues to report."""

    status: int
    issues: list[Issue] = field(default_factory=list)
    reason: str = "invalid_request"  # short machine word for the request log

    def __str__(self) -> str:
        return "; ".join(issue.diagnostics for issue in self.issues) or f"HTTP {self.status}"

    @classmethod
    def single(
        cls,
        status: int,
        diagnostics: str,
        *,
        code: str = "invalid",
        expression: str | None = None,
        reason: str = "invalid_request",
    ) -> ServiceError:
        return cls(status, [Issue(diagnostics, code, expression)], reason)


def operation_outcome(issues: Iterable[Issue]) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": [i.to_json() for i in issues]}


def error_response(status: int, issues: Iterable[Issue]) -> Response:
    response = jsonify(operation_outcome(issues))
    response.status_code = status
    return response


def _set_reason(reason: str) -> None:
    fields = g.get("log_fields")
    if fields is not None:
        fields.setdefault("reason", reason)


def _handle_service_error(exc: ServiceError) -> Response:
    _set_reason(exc.reason)
    return error_response(exc.status, exc.issues)


def _handle_http_exception(exc: HTTPException) -> Response:
    status = exc.code or 500
    _set_reason(f"http_{status}")
    description = exc.description or exc.name
    response = error_response(
        status, [Issue(f"{exc.name}: {description}", _ISSUE_CODE_BY_STATUS.get(status, "invalid"))]
    )
    # Keep headers such as Allow (405) that Werkzeug computed for the exception.
    for name, value in exc.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def _handle_unexpected(exc: Exception) -> Response:
    fields = g.get("log_fields") or {}
    # The exception's message and those of its causes are not logged: they can quote patient
    # data or a token (KeyError('<patient id>')). Its type and the stack locate the bug.
    log.error(
        "unhandled error in %s (hookInstance=%s): %s\n%s",
        fields.get("service", "request"),
        fields.get("hookInstance", "-"),
        type(exc).__name__,
        "".join(traceback.format_tb(exc.__traceback__)).rstrip(),
    )
    _set_reason("internal_error")
    return error_response(500, [Issue("Internal error; the event was logged.", "exception")])


def init_app(app: Flask) -> None:
    app.register_error_handler(ServiceError, _handle_service_error)
    app.register_error_handler(HTTPException, _handle_http_exception)
    app.register_error_handler(Exception, _handle_unexpected)
