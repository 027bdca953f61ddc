"""Fixtures shared by every test folder: settings, the app, its test client.

``make_app(**overrides)`` builds an app with Settings fields replaced (and optionally a
replacement ``engine``); ``settings``/``app``/``client`` are the defaults of a development
deployment whose data lives in the test's temporary directory.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cds_service.app import create_app
from cds_service.settings import Settings


def build_settings(tmp_path: Path, **overrides: Any) -> Settings:
    base = Settings(data_dir=tmp_path / "var")
    return dataclasses.replace(base, **overrides)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return build_settings(tmp_path)


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    """Factory: ``make_app(engine=None, **settings_overrides) -> Flask``."""
    built: list[Flask] = []

    def factory(engine: Any | None = None, **overrides: Any) -> Flask:
        app = create_app(build_settings(tmp_path, **overrides), engine=engine)
        app.testing = True
        built.append(app)
        return app

    yield factory
    for app in built:
        client = app.extensions.get("fhir_client")
        if client is not None:
            client.close()
        store = app.extensions.get("store")
        close = getattr(store, "close", None)
        if callable(close):
            close()


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
