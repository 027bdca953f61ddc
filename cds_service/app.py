"""The application factory: the one place where the parts of the service are wired."""

from __future__ import annotations

from typing import Any

from flask import Flask

from cds_service import cors, errors, governance, openapi, request_log, security, store
from cds_service.discovery import bp as discovery_bp
from cds_service.fetch_slots import FetchSlots
from cds_service.fhir_client import FhirClient
from cds_service.health import bp as health_bp
from cds_service.hooks import bp as hooks_bp
from cds_service.settings import Settings


def build_engine(settings: Settings) -> Any:
    from cds_service.engine import Engine
    from cds_service.guideline.thresholds import load_thresholds

    return Engine(load_thresholds(settings.thresholds_file))


def create_app(settings: Settings | None = None, *, engine: Any | None = None) -> Flask:
    """Build the Flask app. ``engine`` replaces the guideline engine (tests of the wiring)."""
    settings = settings or Settings.from_env()
    app = Flask("cds_service")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # keep cards and OperationOutcomes in their natural order
    app.extensions["cds_settings"] = settings
    app.extensions["cds_engine"] = engine if engine is not None else build_engine(settings)
    app.extensions["fhir_client"] = FhirClient(settings)
    app.extensions["fetch_slots"] = FetchSlots(
        settings.data_dir / "fetch-slots",
        per_server=settings.fetch_max_per_server,
        total=settings.fetch_max_total,
    )
    app.extensions.setdefault("readiness", [])
    governance.init_app(app, settings)  # the rules file is checked before anything opens

    # Both put their before_request hook first, so the resulting order is: start the request
    # log's clock, answer CORS preflights, then any authentication hook registered below.
    cors.init_app(app, settings)
    request_log.init_app(app, settings)
    errors.init_app(app)
    # The store first: the JWT replay record is one of its tables.
    store.init_app(app, settings)
    security.init_app(app, settings)
    app.register_blueprint(discovery_bp)
    app.register_blueprint(hooks_bp)
    app.register_blueprint(health_bp)
    governance.attach_store(app)
    openapi.init_app(app, settings)
    return app
