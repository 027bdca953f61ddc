"""Garbage-collector settings for a serving process, applied once the app is built.

A request allocates thousands of dicts and lists (the parsed prefetch) that die when it
ends; almost none form cycles, so reference counting frees them. With CPython's default
threshold (700 allocations) the cyclic collector still runs several times per request and
rescans the long-lived objects of the app (Flask, pydantic models, value sets) each time its
older generations come due. Freezing what exists after start-up moves those objects out of
the collector's view, and a larger first threshold lets a request finish between collections.
Cycles are still collected, only less often.
"""

from __future__ import annotations

import gc

# Young-generation threshold: about one large request's worth of containers.
GEN0_THRESHOLD = 50_000
GEN1_THRESHOLD = 20
GEN2_THRESHOLD = 20


def settle_after_startup() -> None:
    """Collect start-up garbage, freeze the survivors, raise the collection thresholds."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GEN0_THRESHOLD, GEN1_THRESHOLD, GEN2_THRESHOLD)
