"""Governance tests: the real service (guideline engine, store) with a rules file.

Hook calls carry the demo patient of the store's acceptance test (rules R2, R3 and R4 speak
for her); feedback goes through the real endpoint; the store is read back directly.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from cds_service.app import create_app
from cds_service.settings import Settings
from cds_service.store.models import issued_cards, rule_snoozes
from tests.store.conftest import FEEDBACK_URL, SERVICE_ID
from tests.store.test_done_when import patient_view_request

SERVICE_URL = f"/cds-services/{SERVICE_ID}"


def write_rules(path: Path, rules: Any) -> Path:
    path.write_text(rules if isinstance(rules, str) else json.dumps(rules), encoding="utf-8")
    return path


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    """``make_app(rules=None, **settings)``: the real service; ``rules`` is the rules file."""
    built: list[Flask] = []

    def factory(rules: Any = None, **overrides: Any) -> Flask:
        overrides.setdefault("data_dir", tmp_path / "var")
        if rules is not None:
            overrides["rules_file"] = write_rules(tmp_path / f"rules-{len(built)}.json", rules)
        app = create_app(Settings(**overrides))
        app.testing = True
        built.append(app)
        return app

    yield factory
    for app in built:
        app.extensions["store"].close()


def hook_request(user: str = "Practitioner/example", **changes: Any) -> dict[str, Any]:
    body = patient_view_request()
    body["context"]["userId"] = user
    body.update(changes)
    return body


def cards_by_rule(
    client: FlaskClient, body: dict[str, Any] | None = None, **headers: str
) -> dict[str, dict[str, Any]]:
    response = client.post(SERVICE_URL, json=body or hook_request(), headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return {card["source"]["topic"]["code"]: card for card in response.get_json()["cards"]}


def override(
    client: FlaskClient, card: dict[str, Any], code: str | None, **headers: str
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "card": card["uuid"],
        "outcome": "overridden",
        "outcomeTimestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if code is not None:
        [reason] = [r for r in card["overrideReasons"] if r["code"] == code]
        item["overrideReason"] = {"reason": reason}
    response = client.post(FEEDBACK_URL, json={"feedback": [item]}, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return dict(response.get_json())


def logged(app: Flask) -> list[tuple[str, str]]:
    """(rule, disposition) of every card in the card log."""
    app.extensions["card_log"].flush()
    with app.extensions["store"].engine.connect() as conn:
        rows = conn.execute(
            select(issued_cards.c.rule_id, issued_cards.c.disposition).order_by(
                issued_cards.c.issued_at, issued_cards.c.rule_id
            )
        ).all()
    return [(rule, disposition) for rule, disposition in rows]


def snoozes(app: Flask) -> list[dict[str, Any]]:
    with app.extensions["store"].engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(rule_snoozes)).mappings().all()]
