"""Caps on concurrent fall-back fetches: per FHIR server and in total, for the whole host.

A FHIR server that accepts connections and never answers holds each hook call that fetches
from it for the whole fetch deadline. Without a cap, one such tenant takes every thread of a
worker and calls from other EHRs (even those carrying their whole prefetch) queue behind it.
With one, a call over the cap is refused at once (412, saying why) and the rest of the
service keeps answering.

The slots are ``flock`` locks on small files in one directory, so every worker process of a
host (and every thread within one) shares the same count, and a slot held by a process that
dies is released by the kernel with its file descriptors.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit


class FetchCapReached(Exception):
    """Every slot of the cap is taken; ``reason`` is safe to show the caller."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def server_key(fhir_server: str) -> str:
    """One key per FHIR server whatever the spelling of its base URL's scheme, host, slash."""
    parts = urlsplit(fhir_server.strip())
    normalised = f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path.rstrip('/')}"
    return hashlib.sha256(normalised.encode()).hexdigest()[:32]


class FetchSlots:
    """``with slots.hold(fhir_server): ...`` or ``FetchCapReached`` at once."""

    def __init__(self, directory: Path, *, per_server: int, total: int) -> None:
        if per_server < 1 or total < 1:
            raise ValueError("fetch caps must be at least 1")
        self.directory = directory
        self.per_server = per_server
        self.total = total

    def _take(self, prefix: str, count: int) -> int | None:
        """The descriptor of a free slot among ``count`` (now held), or None."""
        self.directory.mkdir(parents=True, exist_ok=True)
        for index in range(count):
            path = self.directory / f"{prefix}-{index}.lock"
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            except BaseException:
                os.close(fd)
                raise
            return fd
        return None

    @contextlib.contextmanager
    def hold(self, fhir_server: str) -> Iterator[None]:
        server_fd = self._take(f"server-{server_key(fhir_server)}", self.per_server)
        if server_fd is None:
            raise FetchCapReached(
                f"{self.per_server} fall-back fetches from this FHIR server are already under "
                "way (the per-server limit); send the prefetch or retry later"
            )
        try:
            total_fd = self._take("total", self.total)
            if total_fd is None:
                raise FetchCapReached(
                    f"{self.total} fall-back fetches are already under way (the service's "
                    "limit); send the prefetch or retry later"
                )
            try:
                yield
            finally:
                os.close(total_fd)
        finally:
            os.close(server_fd)

    def held(self, fhir_server: str | None = None) -> int:
        """Slots taken right now (all servers, or one): for tests and diagnostics."""
        if fhir_server is None:
            prefix, count = "total", self.total
        else:
            prefix, count = f"server-{server_key(fhir_server)}", self.per_server
        taken = 0
        for index in range(count):
            path = self.directory / f"{prefix}-{index}.lock"
            if not path.exists():
                continue
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                taken += 1
            finally:
                os.close(fd)
        return taken
