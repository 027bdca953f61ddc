"""A gunicorn entry point for the start-up tests: the real app with a stand-in engine, so
the tests exercise gunicorn's start-up path and nothing of the guideline."""

from __future__ import annotations

from flask import Flask

from cds_service.app import create_app
from tests.security.conftest import StubEngine


def build() -> Flask:
    return create_app(engine=StubEngine())
