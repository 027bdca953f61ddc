"""A serving process freezes its start-up heap and collects young objects less often."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from cds_service import gc_tuning, gunicorn_conf


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_worker_start_freezes_the_heap_and_raises_thresholds(restored_gc: None) -> None:
    gc.unfreeze()
    gunicorn_conf.post_worker_init(SimpleNamespace())
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == (
        gc_tuning.GEN0_THRESHOLD,
        gc_tuning.GEN1_THRESHOLD,
        gc_tuning.GEN2_THRESHOLD,
    )
    assert gc.isenabled()  # cycles are still collected


def test_cycles_made_after_settling_are_still_collected(restored_gc: None) -> None:
    gc_tuning.settle_after_startup()

    class Node:
        other: object

    a, b = Node(), Node()
    a.other, b.other = b, a
    del a, b
    assert gc.collect() >= 2
