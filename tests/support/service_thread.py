"""Run the CDS service (create_app) in a background thread on 127.0.0.1, on a free port."""

from __future__ import annotations

from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from tests.support.background_server import BackgroundServer


class ServiceThread(BackgroundServer):
    """``with ServiceThread(app) as service: service.url`` -> http://127.0.0.1:PORT"""

    def __init__(self, app: Flask, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self._wsgi: BaseWSGIServer = make_server(host, port, app, threaded=True)
        super().__init__(self._wsgi, name="cds-service")

    @property
    def url(self) -> str:
        return f"http://{self._wsgi.host}:{self._wsgi.port}"

    @property
    def discovery_url(self) -> str:
        return f"{self.url}/cds-services"
