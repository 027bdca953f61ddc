"""The peer of the HTTP benchmark: a minimal patient-view service built with HealthChain.

HealthChain's own way: a CDSHooksService with a handler on "patient-view" that receives the
validated CDSRequest model, flattens the prefetch with HealthChain's `prefetch_to_bundle`,
and answers one card through the CDSResponse model. Tuned as far as HealthChain allows:
events off, uvicorn with uvloop and httptools, no access log.

It runs in its own virtual environment (benchmarks/.venv-healthchain):

    uvicorn --workers 2 --no-access-log --factory benchmarks.healthchain_app:create_app
"""

from __future__ import annotations

from typing import Any

from healthchain.fhir.readers import prefetch_to_bundle
from healthchain.gateway import CDSHooksService, HealthChainAPI
from healthchain.gateway.cds import CDSHooksConfig
from healthchain.models import Card, CDSRequest, CDSResponse


def create_app() -> Any:
    cds = CDSHooksService(config=CDSHooksConfig(base_path=""), use_events=False)

    @cds.hook("patient-view", id="osteopenia-management", title="Osteopenia management")
    def patient_view(request: CDSRequest) -> CDSResponse:
        bundle = prefetch_to_bundle(request.prefetch or {})
        resources = len(bundle["entry"])
        return CDSResponse(
            cards=[
                Card(
                    summary="Bone health: review osteopenia management",
                    indicator="info",
                    source={"label": "HealthChain"},
                    detail=f"{resources} prefetched resources reviewed.",
                )
            ]
        )

    app = HealthChainAPI(title="osteopenia-bench", enable_events=False, enable_cors=False)
    app.register_service(cds)
    return app
