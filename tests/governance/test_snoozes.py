"""Snooze after an override: per reason and its period, the boundary day, facts that lift it."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask

from tests.governance.conftest import cards_by_rule, hook_request, logged, override, snoozes
from tests.rules import fhir_builders as fb

T0 = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def at(app: Flask, moment: datetime) -> None:
    app.extensions["governance"].clock = lambda: moment


@pytest.mark.parametrize(
    ("reason", "days"),
    [("patient-declines", 180), ("contraindication", 365), ("treated-elsewhere", 365)],
)
def test_R4_override_snoozes_until_the_boundary_day(
    make_app: Callable[..., Flask], reason: str, days: int
) -> None:
    app = make_app()
    client = app.test_client()
    body = hook_request()
    at(app, T0)
    card = cards_by_rule(client, body)["R4"]
    assert override(client, card, reason)["stored"] == 1
    [snooze] = snoozes(app)
    assert (snooze["rule_id"], snooze["reason_code"]) == ("R4", reason)

    at(app, T0 + timedelta(seconds=1))
    assert "R4" not in cards_by_rule(client, body)  # the chart reopened at once
    assert {"R2", "R3"} <= set(cards_by_rule(client, body))  # other rules unaffected
    at(app, T0 + timedelta(days=days) - timedelta(seconds=1))  # the last second of the period
    assert "R4" not in cards_by_rule(client, body)
    at(app, T0 + timedelta(days=days))  # the boundary: the period is over
    assert "R4" in cards_by_rule(client, body)
    r4 = [d for rule, d in logged(app) if rule == "R4"]
    assert r4 == ["shown", "suppressed", "suppressed", "suppressed", "shown"]


@pytest.mark.parametrize("reason", ["correct-first", "specialist", None])
def test_R4_override_without_a_snoozing_reason(
    make_app: Callable[..., Flask], reason: str | None
) -> None:
    app = make_app()
    client = app.test_client()
    card = cards_by_rule(client)["R4"]
    assert override(client, card, reason)["stored"] == 1
    assert snoozes(app) == []
    assert "R4" in cards_by_rule(client)


def test_snooze_days_from_the_rules_file(make_app: Callable[..., Flask]) -> None:
    app = make_app({"snooze_days": {"patient-declines": 30, "specialist": 90}})
    client = app.test_client()
    body = hook_request()
    at(app, T0)
    override(client, cards_by_rule(client, body)["R4"], "patient-declines")
    at(app, T0 + timedelta(days=30) - timedelta(seconds=1))
    assert "R4" not in cards_by_rule(client, body)
    at(app, T0 + timedelta(days=30))
    card = cards_by_rule(client, body)["R4"]
    override(client, card, "specialist")  # snoozes now; the later override decides
    at(app, T0 + timedelta(days=119))
    assert "R4" not in cards_by_rule(client, body)
    at(app, T0 + timedelta(days=120))
    assert "R4" in cards_by_rule(client, body)


def test_a_reason_not_offered_by_the_card_does_not_snooze(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    client = app.test_client()
    card = cards_by_rule(client)["R4"]
    foreign = dict(
        card,
        overrideReasons=[
            {"system": "urn:osteopenia-cds:override-reason", "code": "patient-declines"}
        ],
    )
    r2 = cards_by_rule(client)["R2"]  # R2 offers no override reasons
    override(client, dict(foreign, uuid=r2["uuid"]), "patient-declines")
    other_system = dict(card, overrideReasons=[{"system": "urn:other", "code": "patient-declines"}])
    override(client, other_system, "patient-declines")
    assert snoozes(app) == []
    assert {"R2", "R4"} <= set(cards_by_rule(client))


def test_the_snooze_is_per_patient(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    client = app.test_client()
    override(client, cards_by_rule(client)["R4"], "patient-declines")
    other = hook_request()
    other["context"]["patientId"] = "another-patient"
    other["prefetch"]["patient"] = dict(other["prefetch"]["patient"], id="another-patient")
    for entry in other["prefetch"]["boneDensity"]["entry"]:
        entry["resource"]["subject"] = {"reference": "Patient/another-patient"}
    assert "R4" in cards_by_rule(client, other)
    assert "R4" not in cards_by_rule(client)


# ---------------------------------------------------------------- new facts lift the snooze


def _with(body: dict[str, Any], resource: dict[str, Any]) -> dict[str, Any]:
    body = copy.deepcopy(body)
    bundle = body["prefetch"]["boneDensity"]
    bundle["entry"].append({"resource": resource})
    bundle["total"] = len(bundle["entry"])
    return body


def _copy_of(body: dict[str, Any], suffix: str, **changes: Any) -> dict[str, Any]:
    [source] = [
        e["resource"]
        for e in body["prefetch"]["boneDensity"]["entry"]
        if e["resource"]["id"].endswith(suffix)
    ]
    return {**copy.deepcopy(source), "id": f"new{suffix}", **changes}


def _yesterday() -> str:
    return (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _new_dxa(body: dict[str, Any]) -> dict[str, Any]:
    return _copy_of(body, "-dxa-hip", effectiveDateTime=_yesterday())


def _new_frax(body: dict[str, Any]) -> dict[str, Any]:
    resource = _copy_of(body, "-frax-mof", effectiveDateTime=_yesterday())
    resource["valueQuantity"] = {**resource["valueQuantity"], "value": 23.0}
    return resource


def _new_fracture(body: dict[str, Any]) -> dict[str, Any]:
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date()
    return fb.condition(
        body["context"]["patientId"],
        fb.SNOMED,
        "65966004",
        "Fracture of forearm",
        yesterday,
        id="new-wrist-fracture",
    )


def _new_vitamin_d(body: dict[str, Any]) -> dict[str, Any]:
    return _copy_of(body, "-vitd", effectiveDateTime=_yesterday())


@pytest.mark.parametrize("new_fact", [_new_dxa, _new_frax, _new_fracture])
def test_new_facts_lift_the_R4_snooze(
    make_app: Callable[..., Flask], new_fact: Callable[[dict[str, Any]], dict[str, Any]]
) -> None:
    app = make_app()
    client = app.test_client()
    body = hook_request()
    override(client, cards_by_rule(client, body)["R4"], "patient-declines")
    assert "R4" not in cards_by_rule(client, body)
    changed = _with(body, new_fact(body))
    assert "R4" in cards_by_rule(client, changed)
    assert "R4" in cards_by_rule(client, changed)  # and stays lifted


def test_other_new_facts_do_not_lift_the_snooze(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    client = app.test_client()
    body = hook_request()
    override(client, cards_by_rule(client, body)["R4"], "patient-declines")
    assert "R4" not in cards_by_rule(client, _with(body, _new_vitamin_d(body)))


def test_snoozes_unreadable_the_card_is_shown(
    make_app: Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app()
    client = app.test_client()
    override(client, cards_by_rule(client)["R4"], "patient-declines")
    assert "R4" not in cards_by_rule(client)
    with app.extensions["store"].engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE rule_snoozes RENAME TO rule_snoozes_away")
    assert "R4" in cards_by_rule(client)  # guidance is not lost to a store failure
    assert "snoozes unavailable, cards shown: OperationalError" in caplog.text
