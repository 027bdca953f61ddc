"""The issue's acceptance scenario, on SQLite and PostgreSQL.

A patient-view call to the real service (guideline engine included) issues cards; the EHR
sends feedback for two of them, one accepted and one overridden with a reason, the override
twice; ``osteopenia-cds report`` then shows one accepted and one overridden for their rules.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import subprocess
import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Flask

from cds_service.app import create_app
from cds_service.discovery import service_definitions
from cds_service.settings import Settings
from tests.store.conftest import FEEDBACK_URL, SERVICE_ID
from tests.store.test_analytics import CLI, cli_env
from tests.support.demo_fixtures import DEMO_DIR, shifted_bundle

PATIENT = "demo-treatment-indicated"  # R2, R3 and R4 speak for her


def patient_view_request() -> dict[str, Any]:
    bundle = shifted_bundle(DEMO_DIR / f"{PATIENT}.json", datetime.now(UTC).date())
    resources = [entry["resource"] for entry in bundle["entry"]]
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    others = [r for r in resources if r["resourceType"] != "Patient"]
    empty = {"resourceType": "Bundle", "type": "searchset", "total": 0}
    [service] = [s for s in service_definitions() if s.id == SERVICE_ID]
    prefetch: dict[str, Any] = {key: empty for key in service.prefetch}
    prefetch["patient"] = patient
    # The mapping pools every prefetch key, so one searchset can carry all the records.
    prefetch["boneDensity"] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(others),
        "entry": [{"resource": r} for r in others],
    }
    return {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"patientId": patient["id"], "userId": "Practitioner/example"},
        "prefetch": prefetch,
    }


def test_report_after_patient_view_and_feedback(store_settings: Settings) -> None:
    app: Flask = create_app(dataclasses.replace(store_settings))
    try:
        client = app.test_client()
        response = client.post(f"/cds-services/{SERVICE_ID}", json=patient_view_request())
        assert response.status_code == 200, response.get_data(as_text=True)
        cards = {card["source"]["topic"]["code"]: card for card in response.get_json()["cards"]}
        assert {"R2", "R4"} <= set(cards), sorted(cards)

        foundational, treatment = cards["R2"], cards["R4"]
        accept = {
            "card": foundational["uuid"],
            "outcome": "accepted",
            "acceptedSuggestions": [{"id": foundational["suggestions"][0]["uuid"]}],
            "outcomeTimestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        reason = treatment["overrideReasons"][0]
        override = {
            "card": treatment["uuid"],
            "outcome": "overridden",
            "overrideReason": {"reason": reason, "userComment": "discussed at the visit"},
            "outcomeTimestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        for body in ({"feedback": [accept, override]}, {"feedback": [override]}):
            answer = client.post(FEEDBACK_URL, json=body)
            assert answer.status_code == 200, answer.get_data(as_text=True)
        analytics = client.get("/analytics").get_json()
        [kind] = analytics["suggestionsAcceptedByKind"]
        assert kind.startswith("MedicationRequest: ") and analytics["unknownCardFeedback"] == 0
    finally:
        app.extensions["store"].close()

    result = subprocess.run(
        [CLI, "report", "--format", "csv"],
        env=cli_env(store_settings),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    rows = {row["rule"]: row for row in csv.DictReader(io.StringIO(result.stdout))}
    assert set(rows) == set(cards)  # every issued card was logged; no unknown-card feedback
    assert (rows["R2"]["accepted"], rows["R2"]["overridden"]) == ("1", "0")
    assert (rows["R4"]["accepted"], rows["R4"]["overridden"]) == ("0", "1")
    assert rows["R4"]["override_reasons"] == f"{reason['code']}=1"
    for rule, row in rows.items():
        assert row["issued"] == "1"
        if rule not in {"R2", "R4"}:
            assert (row["accepted"], row["overridden"]) == ("0", "0")

    table = subprocess.run(
        [CLI, "report"], env=cli_env(store_settings), capture_output=True, text=True, timeout=60
    )
    assert table.returncode == 0, table.stderr
    r4 = next(line for line in table.stdout.splitlines() if line.startswith("R4 "))
    # issued, shown, silent, suppressed, feedback, accepted, overridden
    assert r4.split()[:8] == ["R4", "1", "1", "0", "0", "1", "0", "1"]
