"""A store with every kind of card outcome, and the same numbers read straight from it."""

from __future__ import annotations

from collections import Counter
from typing import Any

from flask import Flask
from sqlalchemy import select

from cds_service.store.models import feedback, issued_cards
from tests.governance.conftest import cards_by_rule, hook_request, override
from tests.store.conftest import FEEDBACK_URL

RULES_FILE = {"rules": {"R3": "silent"}}


def populate(app: Flask) -> None:
    """Three chart openings by one clinician: R3 silent throughout; R2 accepted once; R4
    overridden with "patient declined" at the first, suppressed at the next two."""
    client = app.test_client()
    body = hook_request()
    cards = cards_by_rule(client, body)
    r2 = cards["R2"]
    accept = {
        "card": r2["uuid"],
        "outcome": "accepted",
        "acceptedSuggestions": [{"id": r2["suggestions"][0]["uuid"]}],
        "outcomeTimestamp": "2026-12-06T08:00:00Z",
    }
    assert client.post(FEEDBACK_URL, json={"feedback": [accept]}).status_code == 200
    override(client, cards["R4"], "patient-declines")
    for _ in range(2):
        cards_by_rule(client, body)


def store_numbers(app: Flask) -> dict[str, dict[str, Any]]:
    """Per rule, what the dashboard must show, counted from the tables themselves."""
    app.extensions["card_log"].flush()
    numbers: dict[str, dict[str, Any]] = {}
    with app.extensions["store"].engine.connect() as conn:
        cards = conn.execute(select(issued_cards.c.rule_id, issued_cards.c.disposition)).all()
        outcomes = conn.execute(
            select(issued_cards.c.rule_id, feedback.c.outcome, feedback.c.override_code).join(
                issued_cards, issued_cards.c.card_uuid == feedback.c.card_uuid
            )
        ).all()
    by_rule = Counter(rule for rule, _ in cards)
    for rule in by_rule:
        numbers[rule] = {
            "issued": by_rule[rule],
            **{
                d: sum(1 for r, x in cards if r == rule and x == d)
                for d in ("shown", "silent", "suppressed")
            },
            "accepted": sum(1 for r, o, _ in outcomes if r == rule and o == "accepted"),
            "overridden": sum(1 for r, o, _ in outcomes if r == rule and o == "overridden"),
            "reasons": sorted(c for r, o, c in outcomes if r == rule and o == "overridden"),
        }
    return numbers
