"""A gunicorn entry point for the start-up and replay tests: the real app with a stand-in
engine, and a response header naming the worker process that answered."""

from __future__ import annotations

import os

from flask import Flask, Response

from cds_service.app import create_app
from tests.security.conftest import StubEngine


def build() -> Flask:
    app = create_app(engine=StubEngine())

    @app.after_request
    def worker_pid(response: Response) -> Response:
        response.headers["X-Worker-Pid"] = str(os.getpid())
        return response

    return app
