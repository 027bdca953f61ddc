"""The hook handler's card log is written by a background thread, in batches; feedback and
analytics see every card issued before them, and nothing queued is lost on close."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.exc import OperationalError

from cds_service.app import build_engine
from cds_service.settings import Settings
from cds_service.store import card_log as card_log_module
from tests.store.conftest import FEEDBACK_URL, SERVICE_ID, accepted, card
from tests.store.helpers import feedback_rows, issued_count
from tests.store.test_done_when import patient_view_request


def defer(app: Flask, *cards: dict[str, Any]) -> None:
    app.extensions["card_log"].record_deferred(
        service_id=SERVICE_ID, hook_instance="hook-1", patient_id="patient-1", cards=list(cards)
    )


@pytest.fixture
def clinical_app(make_store_app: Callable[..., Flask]) -> Flask:
    """The store app with the real guideline engine, so hook calls issue cards."""
    return make_store_app(engine=build_engine(Settings()))


@pytest.fixture
def slow_writer(monkeypatch: pytest.MonkeyPatch) -> None:
    # The writer waits far longer than any test: what is written, a flush wrote.
    monkeypatch.setattr(card_log_module, "FLUSH_INTERVAL_S", 3600.0)


def test_flush_writes_what_is_queued(store_app: Flask, slow_writer: None) -> None:
    defer(store_app, card("c-1", "R2"), card("c-2", "R3"))
    defer(store_app, card("c-3", "R4"))
    assert issued_count(store_app) == 0  # still queued
    store_app.extensions["card_log"].flush()
    assert issued_count(store_app) == 3


def test_the_writer_thread_writes_without_a_flush(store_app: Flask) -> None:
    defer(store_app, card("c-1", "R2"))
    for _ in range(600):  # eventually; the interval is 0.1 s
        if issued_count(store_app) == 1:
            break
        time.sleep(0.05)
    assert issued_count(store_app) == 1


def test_feedback_right_after_the_hook_call_finds_its_card(
    clinical_app: Flask, slow_writer: None
) -> None:
    store_app = clinical_app
    client = store_app.test_client()
    cards = client.post(f"/cds-services/{SERVICE_ID}", json=patient_view_request()).get_json()
    assert cards["cards"]
    [first] = [c for c in cards["cards"] if c.get("suggestions")][:1]
    item = accepted(first["uuid"], first["suggestions"][0]["uuid"])
    answer = client.post(FEEDBACK_URL, json={"feedback": [item]}).get_json()
    assert answer["unknownCards"] == 0
    assert [row["unknown_card"] for row in feedback_rows(store_app)] == [False]


def test_analytics_counts_cards_still_queued(clinical_app: Flask, slow_writer: None) -> None:
    store_app = clinical_app
    client = store_app.test_client()
    response = client.post(f"/cds-services/{SERVICE_ID}", json=patient_view_request())
    issued = len(response.get_json()["cards"])
    report = client.get("/analytics").get_json()
    assert issued > 0
    assert issued_count(store_app) == issued
    assert "unknownCardFeedback" in report


def test_a_backlog_is_written_by_the_caller_nothing_dropped(
    store_app: Flask, slow_writer: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(card_log_module, "MAX_PENDING_CALLS", 2)
    for i in range(3):
        defer(store_app, card(f"c-{i}", "R2"))
    assert issued_count(store_app) == 3


def test_close_writes_the_queue_and_later_calls_write_at_once(
    store_app: Flask, slow_writer: None
) -> None:
    defer(store_app, card("c-1", "R2"))
    store_app.extensions["card_log"].close()
    assert issued_count(store_app) == 1
    defer(store_app, card("c-2", "R2"))
    assert issued_count(store_app) == 2


def test_a_failed_batch_is_logged_by_class_only(
    store_app: Flask,
    slow_writer: None,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("INSERT ... 'secret-value'", {}, Exception("disk I/O error"))

    defer(store_app, card("c-1", "R2"), card("c-2", "R2"))
    monkeypatch.setattr(card_log_module, "write_transaction", broken)
    with caplog.at_level(logging.ERROR, logger="cds_service.store.card_log"):
        store_app.extensions["card_log"].flush()
    assert "could not record 2 card(s): OperationalError" in caplog.text
    assert "secret-value" not in caplog.text
