"""Liveness (``/healthz``) and readiness (``/readyz``) for load balancers and orchestrators."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, current_app, jsonify

bp = Blueprint("health", __name__)
log = logging.getLogger("cds_service.health")


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify({"status": "ok"})


def _run_check(check: Any) -> dict[str, Any]:
    name = getattr(check, "__name__", "check")
    try:
        result = check()
    except Exception as exc:
        log.warning("readiness check %s failed: %s", name, type(exc).__name__)
        return {"name": name, "ok": False, "detail": f"check raised {type(exc).__name__}"}
    if not isinstance(result, dict):
        return {"name": name, "ok": False, "detail": "check returned no result"}
    entry = {"name": str(result.get("name") or name), "ok": result.get("ok") is True}
    if result.get("detail"):
        entry["detail"] = str(result["detail"])
    return entry


@bp.get("/readyz")
def readyz() -> Response:
    checks = [
        {
            "name": "config",
            "ok": "cds_settings" in current_app.extensions,
            "detail": "settings loaded",
        },
        {
            "name": "engine",
            "ok": current_app.extensions.get("cds_engine") is not None,
            "detail": "guideline engine built",
        },
    ]
    checks.extend(_run_check(check) for check in current_app.extensions.get("readiness", []))
    ready = all(check["ok"] for check in checks)
    response = jsonify({"status": "ready" if ready else "not ready", "checks": checks})
    response.status_code = 200 if ready else 503
    return response
