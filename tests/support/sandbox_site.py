"""Serve a local build of the CDS Hooks sandbox as static files on 127.0.0.1."""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path
from types import TracebackType


class _SandboxHandler(http.server.SimpleHTTPRequestHandler):
    """Static files, with index.html for any path that is not a file (single-page app)."""

    extensions_map = {  # noqa: RUF012 (the base class declares it as a plain dict)
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".js": "text/javascript",
        ".json": "application/json",
        ".map": "application/json",
    }

    def send_head(self):  # type: ignore[no-untyped-def]
        path = Path(self.translate_path(self.path))
        if not path.exists() and "." not in path.name:
            # Client-side routes of the app: hand it its index page.
            self.path = "/index.html"
        return super().send_head()

    def log_message(self, format: str, *args: object) -> None:
        pass  # the browser's network log is what the tests read


class SandboxSite:
    """``with SandboxSite(build_dir) as site: site.url`` -> http://127.0.0.1:PORT"""

    def __init__(self, build_dir: Path) -> None:
        index = build_dir / "index.html"
        if not index.is_file():
            raise FileNotFoundError(f"{build_dir} is not a sandbox build: no index.html")
        handler = functools.partial(_SandboxHandler, directory=str(build_dir))
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="sandbox-site", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> SandboxSite:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> SandboxSite:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
