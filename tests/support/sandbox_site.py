"""Serve a local build of the CDS Hooks sandbox as static files on 127.0.0.1."""

from __future__ import annotations

import functools
import http.server
from pathlib import Path

from tests.support.background_server import BackgroundServer


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


class SandboxSite(BackgroundServer):
    """``with SandboxSite(build_dir) as site: site.url`` -> http://127.0.0.1:PORT"""

    def __init__(self, build_dir: Path) -> None:
        index = build_dir / "index.html"
        if not index.is_file():
            raise FileNotFoundError(f"{build_dir} is not a sandbox build: no index.html")
        handler = functools.partial(_SandboxHandler, directory=str(build_dir))
        self._http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._http.daemon_threads = True
        super().__init__(self._http, name="sandbox-site", join_timeout=5)

    @property
    def url(self) -> str:
        host, port = self._http.server_address[:2]
        return f"http://{host}:{port}"
