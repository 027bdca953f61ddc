"""One JSON line per request: what happened, never who (no patient ids, names or tokens).

Handlers add their fields to ``flask.g.log_fields`` (hookInstance, service, cards, reason);
this module times the request and writes the line when the response leaves.
"""

from __future__ import annotations

import json
import logging
import sys
import time

from flask import Flask, Response, g, request

from cds_service.settings import Settings

log = logging.getLogger("cds_service.requests")

# Only these handler fields are written; anything else a handler adds stays out of the log.
LOGGED_FIELDS = (
    "service",
    "hookInstance",
    "cards",
    "reason",
    "prefetchMissing",
    "fetchFailures",  # why the fall-back fetch did not get them → prefetch keys
    "fhirServer",
    "iss",
    "tenant",
    "draftsNotChecked",  # order hooks: drafts the checks could not read, and why
)


def _configure(settings: Settings) -> None:
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        # The line is complete as it is; the root logger would print it a second time.
        log.propagate = False
    log.setLevel(settings.log_level if settings.log_level in logging._nameToLevel else "INFO")
    # urllib3 logs request URLs at DEBUG, and fall-back fetch URLs carry the patient id.
    logging.getLogger("urllib3").setLevel(max(logging.INFO, logging.getLogger().level))


def init_app(app: Flask, settings: Settings) -> None:
    _configure(settings)

    def start() -> None:
        g.request_started = time.perf_counter()
        g.log_fields = {}

    def write(response: Response) -> Response:
        started = g.get("request_started")
        record: dict[str, object] = {
            "event": "request",
            "method": request.method,
            "path": request.path[:200],
            "status": response.status_code,
        }
        if started is not None:
            record["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)
        fields = g.get("log_fields") or {}
        for name in LOGGED_FIELDS:
            if name in fields and fields[name] not in (None, ""):
                record[name] = fields[name]
        log.info(json.dumps(record, separators=(",", ":"), default=str))
        return response

    app.before_request_funcs.setdefault(None, []).insert(0, start)
    app.after_request(write)
