"""GET /analytics and ``osteopenia-cds report``: per-rule counts of cards and outcomes."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cds_service.settings import Settings
from tests.store.conftest import FEEDBACK_URL, accepted, card, overridden
from tests.store.helpers import issue

CLI = str(Path(sys.executable).with_name("osteopenia-cds"))


def post(client: FlaskClient, *items: dict[str, Any]) -> None:
    response = client.post(
        FEEDBACK_URL, data=json.dumps({"feedback": list(items)}), content_type="application/json"
    )
    assert response.status_code == 200, response.get_data(as_text=True)


@pytest.fixture
def populated(store_app: Flask, store_client: FlaskClient) -> Flask:
    """Five R2 cards, two R4 cards with two suggestions each, one R7 card; then feedback."""
    issue(
        store_app,
        *(card(f"r2-{i}", "R2") for i in range(5)),
        card("r4-a", "R4", ("r4-a-dxa", "ServiceRequest"), ("r4-a-drug", "MedicationRequest")),
        card("r4-b", "R4", ("r4-b-dxa", "ServiceRequest"), ("r4-b-drug", "MedicationRequest")),
        card("r7-a", "R7"),
    )
    post(
        store_client,
        accepted("r4-a", "r4-a-dxa", "r4-a-drug", at="2026-11-10T09:00:00Z"),
        accepted("r4-b", "r4-b-drug", at="2026-11-12T09:00:00Z"),
        overridden("r2-0", "patient-declined", at="2026-11-10T09:00:00Z"),
        overridden("r2-1", "patient-declined", at="2026-11-11T09:00:00Z"),
        overridden("r2-2", "already-addressed", at="2026-11-12T09:00:00Z"),
        overridden("r2-3", comment="free text only", at="2026-11-12T10:00:00Z"),
        accepted("r2-4", "unknown-suggestion", at="2026-11-13T09:00:00Z"),
        overridden("never-issued", "not-relevant", at="2026-11-13T09:00:00Z"),
    )
    return store_app


def rules_of(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {rule["rule"]: rule for rule in body["rules"]}


def test_analytics_counts_per_rule(populated: Flask, store_client: FlaskClient) -> None:
    response = store_client.get("/analytics")
    assert response.status_code == 200
    body = response.get_json()
    rules = rules_of(body)
    assert list(rules) == ["R2", "R4", "R7", "(unknown card)"]

    r2 = rules["R2"]
    assert (r2["issued"], r2["feedback"], r2["accepted"], r2["overridden"]) == (5, 5, 1, 4)
    assert r2["acceptanceRate"] == 0.2
    reasons = {(r.get("code") or r.get("reason")): r["count"] for r in r2["overrideReasons"]}
    assert reasons == {"patient-declined": 2, "already-addressed": 1, "(no reason given)": 1}
    assert r2["overrideReasons"][0]["code"] == "patient-declined"  # most frequent first

    r4 = rules["R4"]
    assert (r4["issued"], r4["feedback"], r4["accepted"], r4["overridden"]) == (2, 2, 2, 0)
    assert r4["acceptanceRate"] == 1.0 and r4["overrideReasons"] == []

    r7 = rules["R7"]
    assert (r7["issued"], r7["feedback"], r7["acceptanceRate"]) == (1, 0, None)

    unknown = rules["(unknown card)"]
    assert (unknown["issued"], unknown["overridden"]) == (0, 1)
    assert body["unknownCardFeedback"] == 1

    assert body["suggestionsAcceptedByKind"] == {
        "(unknown suggestion)": 1,
        "MedicationRequest": 2,
        "ServiceRequest": 1,
    }


def test_analytics_period_filters_feedback_by_outcome_time(
    populated: Flask, store_client: FlaskClient
) -> None:
    body = store_client.get("/analytics?since=2026-11-11&until=2026-11-12").get_json()
    rules = rules_of(body)
    assert body["period"] == {"since": "2026-11-11T00:00:00Z", "until": "2026-11-13T00:00:00Z"}
    assert (rules["R2"]["accepted"], rules["R2"]["overridden"]) == (0, 3)
    assert (rules["R4"]["accepted"], rules["R4"]["overridden"]) == (1, 0)
    assert "(unknown card)" not in rules
    # The cards were issued today, outside the period.
    assert all(rule["issued"] == 0 for rule in body["rules"])
    assert body["suggestionsAcceptedByKind"] == {"MedicationRequest": 1}


def test_analytics_accepts_rfc3339_bounds(populated: Flask, store_client: FlaskClient) -> None:
    body = store_client.get(
        "/analytics?since=2026-11-12T09:30:00Z&until=2026-11-12T10:00:01Z"
    ).get_json()
    assert rules_of(body)["R2"]["overridden"] == 1


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("since=yesterday", "since"),
        ("until=2026-02-30", "until"),
        ("since=2026-11-20T10:00", "since"),
        ("since=2026-11-20&until=2026-11-01", "since"),
    ],
    ids=["word", "impossible-date", "no-offset", "reversed"],
)
def test_analytics_bad_dates_are_400(store_client: FlaskClient, query: str, field: str) -> None:
    response = store_client.get(f"/analytics?{query}")
    assert response.status_code == 400
    issue_ = response.get_json()["issue"][0]
    assert issue_["expression"] == [field]


def test_analytics_of_an_empty_store(store_client: FlaskClient) -> None:
    body = store_client.get("/analytics").get_json()
    assert body["rules"] == [] and body["suggestionsAcceptedByKind"] == {}


# ----------------------------------------------------------------------- the report command


def cli_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["CDS_DATA_DIR"] = str(settings.data_dir)
    if settings.database_url:
        env["DATABASE_URL"] = settings.database_url
    return env


def run_cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args], env=cli_env(settings), capture_output=True, text=True, timeout=60
    )


def test_report_csv(populated: Flask, store_settings: Settings) -> None:
    result = run_cli(store_settings, "report", "--format", "csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert {"rule", "issued", "accepted", "overridden"} <= set(rows[0])
    by_rule = {row["rule"]: row for row in rows}
    assert [row["rule"] for row in rows] == ["R2", "R4", "R7", "(unknown card)"]
    assert (by_rule["R2"]["issued"], by_rule["R2"]["accepted"], by_rule["R2"]["overridden"]) == (
        "5",
        "1",
        "4",
    )
    assert by_rule["R2"]["acceptance_rate"] == "0.2000"
    assert "patient-declined=2" in by_rule["R2"]["override_reasons"]
    assert (by_rule["R4"]["accepted"], by_rule["R4"]["overridden"]) == ("2", "0")
    assert by_rule["R7"]["acceptance_rate"] == ""


def test_report_table_with_period(populated: Flask, store_settings: Settings) -> None:
    result = run_cli(store_settings, "report", "--since", "2026-11-12", "--until", "2026-11-12")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    header = next(line for line in lines if line.startswith("rule"))
    assert header.split()[:8] == [
        "rule",
        "issued",
        "shown",
        "silent",
        "suppressed",
        "feedback",
        "accepted",
        "overridden",
    ]
    r2 = next(line for line in lines if line.startswith("R2 "))
    assert r2.split()[:8] == ["R2", "0", "0", "0", "0", "2", "0", "2"]
    r4 = next(line for line in lines if line.startswith("R4 "))
    assert r4.split()[:9] == ["R4", "0", "0", "0", "0", "1", "1", "0", "100%"]
    assert "MedicationRequest: 1" in result.stdout


def test_report_bad_date_is_a_usage_error(store_settings: Settings) -> None:
    result = run_cli(store_settings, "report", "--since", "31/12/2026")
    assert result.returncode == 2
    assert "since" in result.stderr and "Traceback" not in result.stderr


def test_report_refuses_an_unknown_format(store_settings: Settings) -> None:
    result = run_cli(store_settings, "report", "--format", "xlsx")
    assert result.returncode == 2
