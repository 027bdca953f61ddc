"""A socketserver-style server (``serve_forever``/``shutdown``) run in a daemon thread."""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Protocol, Self


class _Serving(Protocol):
    def serve_forever(self) -> None: ...
    def shutdown(self) -> None: ...
    def server_close(self) -> None: ...


class BackgroundServer:
    """Start with ``start()`` or ``with``; ``stop()`` shuts the server down and closes it."""

    def __init__(self, server: _Serving, *, name: str, join_timeout: float = 10) -> None:
        self._server = server
        self._join_timeout = join_timeout
        self._thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=self._join_timeout)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
