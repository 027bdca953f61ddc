"""``GET /openapi.json``: the OpenAPI 3.1 description of the service's HTTP interface.

The document is package data (``openapi.json``), the one description of every endpoint and of
the CDS Hooks request, response and feedback bodies; the tests validate real responses against
it, so it cannot drift from what the service does.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

from flask import Blueprint, Flask, Response

from cds_service.settings import Settings

bp = Blueprint("openapi", __name__)


@lru_cache(maxsize=1)
def _document_bytes() -> bytes:
    return resources.files("cds_service").joinpath("openapi.json").read_bytes()


def openapi_document() -> dict[str, Any]:
    """A fresh copy of the document (callers may modify it)."""
    document: dict[str, Any] = json.loads(_document_bytes())
    return document


@bp.get("/openapi.json")
def openapi_json() -> Response:
    return Response(_document_bytes(), mimetype="application/json")


def init_app(app: Flask, settings: Settings) -> None:
    # Public (security.PUBLIC_PATHS): a client needs the description before it can authenticate.
    app.register_blueprint(bp)
