"""CORS for browser CDS clients such as the CDS Hooks sandbox.

Preflight ``OPTIONS`` requests carry no Authorization header, so they are answered here,
before any authentication runs. Origins come from settings (any by default).
"""

from __future__ import annotations

from flask import Flask, Response, request

from cds_service.settings import Settings

ALLOWED_METHODS = "GET, POST, OPTIONS"
ALLOWED_HEADERS = "authorization, content-type"
PREFLIGHT_MAX_AGE = "600"


def _allowed_origin(origin: str | None, settings: Settings) -> str | None:
    if not origin:
        return None
    if "*" in settings.cors_origins:
        return "*"
    return origin if origin.rstrip("/") in {o.rstrip("/") for o in settings.cors_origins} else None


def init_app(app: Flask, settings: Settings) -> None:
    def preflight() -> Response | None:
        if request.method != "OPTIONS":
            return None
        response = app.response_class(status=204)
        if request.headers.get("Access-Control-Request-Method"):
            response.headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
            response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
            response.headers["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
            # Chromium asks before a public page (e.g. the hosted CDS Hooks sandbox) may call
            # a service on a private or loopback address (Private Network Access).
            if request.headers.get("Access-Control-Request-Private-Network", "").lower() == "true":
                response.headers["Access-Control-Allow-Private-Network"] = "true"
        else:
            response.headers["Allow"] = ALLOWED_METHODS
        return response

    def add_cors_headers(response: Response) -> Response:
        allowed = _allowed_origin(request.headers.get("Origin"), settings)
        if allowed:
            response.headers["Access-Control-Allow-Origin"] = allowed
            if allowed != "*":
                response.vary.add("Origin")
        return response

    # Registered before every other before_request hook (see create_app), so a preflight
    # never reaches authentication.
    app.before_request_funcs.setdefault(None, []).insert(0, preflight)
    app.after_request(add_cors_headers)
