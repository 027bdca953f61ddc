"""Concurrent writers in several processes: no feedback lost, none stored twice."""

from __future__ import annotations

import multiprocessing
import random
from typing import Any

from sqlalchemy import func, select

from cds_service.settings import Settings
from cds_service.store import open_store
from cds_service.store.feedback import store_feedback
from cds_service.store.models import feedback, feedback_suggestions, issued_cards
from cds_service.store.validation import validate_feedback_document
from tests.store.conftest import SERVICE_ID, accepted, card, overridden

WORKERS = 4
SHARED = 40  # items every worker sends (a client retrying through several replicas)
OWN = 40  # items only one worker sends
BATCH = 7


def shared_items() -> list[dict[str, Any]]:
    items = []
    for i in range(SHARED):
        stamp = f"2026-11-20T10:{i // 60:02d}:{i % 60:02d}Z"
        if i % 2:
            items.append(overridden(f"card-{i % 10}", "patient-declined", at=stamp))
        else:
            items.append(accepted(f"card-{i % 10}", f"s-{i % 10}-a", f"s-{i % 10}-b", at=stamp))
    return items


def own_items(worker: int) -> list[dict[str, Any]]:
    return [
        overridden(f"card-{i % 10}", comment=f"worker {worker} item {i}", at="2026-11-21T08:00:00Z")
        for i in range(OWN)
    ]


def _writer(settings: Settings, worker: int, barrier: Any, queue: Any) -> None:
    try:
        store = open_store(settings)
        items = shared_items() + own_items(worker)
        random.Random(worker).shuffle(items)
        barrier.wait(timeout=60)
        stored = 0
        for start in range(0, len(items), BATCH):
            batch = validate_feedback_document({"feedback": items[start : start + BATCH]})
            stored += store_feedback(store.engine, SERVICE_ID, batch).stored
            # The hook handler logs cards at the same time as feedback arrives.
            store.card_log.record(
                service_id=SERVICE_ID,
                hook_instance=f"hook-{worker}-{start}",
                patient_id=f"patient-{worker}",
                cards=[card(f"card-{start % 10}", "R2"), card(f"w{worker}-{start}", "R3")],
            )
        store.close()
        queue.put(("ok", stored))
    except Exception as exc:  # reported to the parent, which fails the test
        queue.put(("error", repr(exc)))


def test_concurrent_writers_lose_and_duplicate_nothing(store_settings: Settings) -> None:
    store = open_store(store_settings)
    store.card_log.record(
        service_id=SERVICE_ID,
        hook_instance="setup",
        patient_id="patient-0",
        cards=[card(f"card-{i}", "R2", (f"s-{i}-a", "ServiceRequest")) for i in range(10)],
    )
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(WORKERS)
    queue = context.Queue()
    processes = [
        context.Process(target=_writer, args=(store_settings, worker, barrier, queue))
        for worker in range(WORKERS)
    ]
    for process in processes:
        process.start()
    results = [queue.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=60)

    errors = [detail for status, detail in results if status != "ok"]
    assert errors == []
    expected = SHARED + WORKERS * OWN
    # Every new row was reported as stored by exactly one writer.
    assert sum(stored for _, stored in results) == expected
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(feedback)).scalar_one() == expected
        keys = conn.execute(select(func.count(func.distinct(feedback.c.natural_key)))).scalar_one()
        assert keys == expected
        suggestions = conn.execute(
            select(func.count()).select_from(feedback_suggestions)
        ).scalar_one()
        assert suggestions == (SHARED // 2) * 2
        cards = conn.execute(select(func.count()).select_from(issued_cards)).scalar_one()
        batches = -(-(SHARED + OWN) // BATCH)
        assert cards == 10 + WORKERS * batches
        unknown = conn.execute(
            select(func.count()).select_from(feedback).where(feedback.c.unknown_card)
        ).scalar_one()
        assert unknown == 0
    store.close()
