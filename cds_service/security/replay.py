"""The ``jti`` replay cache: each authentication JWT is accepted once.

Entries are kept per issuer (a ``jti`` is unique only within its issuer) until the token they
stand for expires, since an expired token is refused anyway. Each issuer has its own bound, so
one busy EHR cannot push another's entries out. The cache lives in the process; ``ReplayGuard``
adds the record in the database, shared by every worker of every replica (``replay_store``).
"""

from __future__ import annotations

import heapq
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger("cds_service.security")


class ReplayCache:
    def __init__(self, max_entries_per_issuer: int, clock: Callable[[], float] = time.time) -> None:
        if max_entries_per_issuer < 1:
            raise ValueError("max_entries_per_issuer must be at least 1")
        self._max = max_entries_per_issuer
        self._clock = clock
        self._lock = threading.Lock()
        self._expiry: dict[str, dict[str, float]] = {}  # iss -> jti -> expiry
        self._heaps: dict[str, list[tuple[float, str]]] = {}  # iss -> [(expiry, jti)]

    def seen_before(self, iss: str, jti: str, expires_at: float) -> bool:
        """Record ``jti``; True when it was already recorded and has not expired (a replay).
        Check and record are one atomic step, so two concurrent uses cannot both pass."""
        now = self._clock()
        with self._lock:
            entries = self._expiry.setdefault(iss, {})
            heap = self._heaps.setdefault(iss, [])
            self._purge(entries, heap, now)
            known = entries.get(jti)
            if known is not None and known > now:
                return True
            if len(entries) >= self._max:
                # Full of live entries: drop the one closest to expiry. Only tokens that
                # passed signature checks get here, so filling the cache takes a trusted key.
                while heap:
                    expiry, victim = heapq.heappop(heap)
                    if entries.get(victim) == expiry:
                        del entries[victim]
                        break
                log.warning(
                    "jti cache full",
                    extra={"event": "jti_cache_full", "iss": iss, "capacity": self._max},
                )
            entries[jti] = expires_at
            heapq.heappush(heap, (expires_at, jti))
            return False

    def __len__(self) -> int:
        with self._lock:
            return sum(len(e) for e in self._expiry.values())

    @staticmethod
    def _purge(entries: dict[str, float], heap: list[tuple[float, str]], now: float) -> None:
        while heap and heap[0][0] <= now:
            expiry, jti = heapq.heappop(heap)
            if entries.get(jti) == expiry:
                del entries[jti]


class SharedRecord(Protocol):
    def seen_before(self, iss: str, jti: str, expires_at: float) -> bool: ...


class ReplayGuard:
    """The in-process cache first (cheap, and enough with one worker), then the record in the
    database, shared by every process of every replica. If the shared record fails, the
    in-process cache still stands and the failure is logged: refusing every caller would be
    worse."""

    def __init__(
        self,
        memory: ReplayCache,
        shared: SharedRecord | None = None,
        shared_errors: tuple[type[Exception], ...] = (),
    ) -> None:
        self.memory = memory
        self.shared = shared
        self._shared_errors = shared_errors

    def seen_before(self, iss: str, jti: str, expires_at: float) -> bool:
        if self.memory.seen_before(iss, jti, expires_at):
            return True
        if self.shared is None:
            return False
        try:
            return self.shared.seen_before(iss, jti, expires_at)
        except self._shared_errors as exc:
            log.warning(
                json.dumps({"event": "jti_store_failed", "problem": str(exc)[:300]}),
            )
            return False
