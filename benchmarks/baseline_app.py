"""The baseline of the HTTP benchmark: a bare Flask app under the same gunicorn.

It does the least a patient-view service must: read the body, parse the JSON, check it is a
patient-view call, and answer one fixed card. The service's throughput is reported as a
fraction of this one's, measured in the same run.

    gunicorn -w 2 'benchmarks.baseline_app:create_app()'
"""

from __future__ import annotations

import json
import uuid

from flask import Flask, Response, request

FIXED_CARD = {
    "uuid": str(uuid.UUID(int=1, version=4)),
    "summary": "Bone health: review osteopenia management",
    "indicator": "info",
    "source": {"label": "Baseline"},
}


def create_app() -> Flask:
    app = Flask("baseline")
    body = json.dumps({"cards": [FIXED_CARD]})

    @app.post("/cds-services/<service_id>")
    def patient_view(service_id: str) -> Response:
        data = json.loads(request.get_data())
        if not isinstance(data, dict) or data.get("hook") != "patient-view":
            return Response(
                '{"error": "not a patient-view call"}', 400, mimetype="application/json"
            )
        return Response(body, 200, mimetype="application/json")

    return app
