"""Reading the store back in tests, straight from the database."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import func, select

from cds_service.store.models import feedback, feedback_suggestions, issued_cards


def issue(app: Flask, *cards: dict[str, Any], patient_id: str = "patient-1") -> None:
    app.extensions["card_log"].record(
        service_id="osteopenia-management",
        hook_instance="d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        patient_id=patient_id,
        cards=list(cards),
    )


def feedback_rows(app: Flask) -> list[dict[str, Any]]:
    engine = app.extensions["store"].engine
    with engine.connect() as conn:
        rows = conn.execute(select(feedback).order_by(feedback.c.id)).mappings().all()
    return [dict(row) for row in rows]


def count(app: Flask, table: Any) -> int:
    engine = app.extensions["store"].engine
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def feedback_count(app: Flask) -> int:
    return count(app, feedback)


def accepted_suggestion_count(app: Flask) -> int:
    return count(app, feedback_suggestions)


def issued_count(app: Flask) -> int:
    return count(app, issued_cards)
