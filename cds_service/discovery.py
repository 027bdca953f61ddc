"""Discovery: ``GET /cds-services``, served from the service definitions in ``services.json``.

The definitions are data in one file; the hook handler, the prefetch resolver and the tests
all read them through this module.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from flask import Blueprint, Response, jsonify

bp = Blueprint("discovery", __name__)


@dataclass(frozen=True, slots=True)
class ServiceDefinition:
    id: str
    hook: str
    title: str
    description: str
    usage_requirements: str | None
    prefetch: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "hook": self.hook,
            "id": self.id,
            "title": self.title,
            "description": self.description,
        }
        if self.usage_requirements:
            entry["usageRequirements"] = self.usage_requirements
        if self.prefetch:
            entry["prefetch"] = dict(self.prefetch)
        return entry


def _parse(raw: dict[str, Any], prefetch_of: dict[str, dict[str, str]]) -> ServiceDefinition:
    prefetch = raw.get("prefetch")
    if "prefetchOf" in raw:
        # The order services read the same data as patient-view: one list of templates, so a
        # key added for one service is never missing from the others.
        prefetch = prefetch_of[raw["prefetchOf"]]
    return ServiceDefinition(
        id=raw["id"],
        hook=raw["hook"],
        title=raw["title"],
        description=raw["description"],
        usage_requirements=raw.get("usageRequirements"),
        prefetch=dict(prefetch or {}),
    )


@lru_cache(maxsize=1)
def service_definitions() -> tuple[ServiceDefinition, ...]:
    text = resources.files("cds_service").joinpath("services.json").read_text("utf-8")
    raws = json.loads(text)["services"]
    own = {raw["id"]: raw["prefetch"] for raw in raws if "prefetch" in raw}
    return tuple(_parse(raw, own) for raw in raws)


def services_with_id(service_id: str) -> list[ServiceDefinition]:
    """All definitions sharing an id (the spec lets one id serve several hooks)."""
    return [s for s in service_definitions() if s.id == service_id]


def find_service(service_id: str, hook: str) -> ServiceDefinition | None:
    for service in services_with_id(service_id):
        if service.hook == hook:
            return service
    return None


def discovery_document() -> dict[str, Any]:
    return copy.deepcopy({"services": [s.to_json() for s in service_definitions()]})


@bp.get("/cds-services")
def discovery() -> Response:
    return jsonify(discovery_document())
