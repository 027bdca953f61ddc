"""The end-to-end stage: a local sandbox build, the test FHIR server, the service, Chromium.

Runs only when SANDBOX_DIR names a build of the CDS Hooks sandbox (its ``build/`` folder after
``npm run build``); otherwise every test here is skipped with that reason. The service runs
with authentication on: its only trusted issuer is the sandbox, with the public key that the
sandbox build itself publishes at ``/.well-known/jwks.json``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from cds_service.settings import Settings
from tests.e2e.browser import Browser, missing_browser
from tests.e2e.exchange_log import ExchangeLog
from tests.support.demo_fixtures import DEMO_PATIENTS, demo_bundles
from tests.support.fhir_server import RunningFhirServer, start_fhir_server
from tests.support.sandbox_site import SandboxSite
from tests.support.service_thread import ServiceThread

SANDBOX_ISSUER = "https://sandbox.cds-hooks.org"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def sandbox_dir() -> Path:
    raw = os.environ.get("SANDBOX_DIR", "").strip()
    if not raw:
        pytest.skip(
            "SANDBOX_DIR is not set: the end-to-end tests need a local build of the CDS Hooks "
            "sandbox (README, 'Try it')"
        )
    path = Path(raw).expanduser().resolve()
    jwks = path / ".well-known" / "jwks.json"
    if not (path / "index.html").is_file() or not jwks.is_file():
        pytest.fail(
            f"SANDBOX_DIR={raw} is not a sandbox build: expected index.html and "
            ".well-known/jwks.json in it (the build/ folder after `npm run build`)"
        )
    reason = missing_browser()
    if reason:
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def sandbox_jwks(sandbox_dir: Path) -> dict[str, Any]:
    return json.loads((sandbox_dir / ".well-known" / "jwks.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def sandbox_site(sandbox_dir: Path) -> Iterator[SandboxSite]:
    with SandboxSite(sandbox_dir) as site:
        yield site


@pytest.fixture(scope="session")
def e2e_fhir(
    sandbox_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningFhirServer]:
    folder = tmp_path_factory.mktemp("demo-bundles")
    paths = []
    for patient_id, bundle in demo_bundles(date.today()).items():
        path = folder / f"{patient_id}.json"
        path.write_text(json.dumps(bundle), encoding="utf-8")
        paths.append(path)
    with start_fhir_server(paths) as server:
        missing = {p.patient_id for p in DEMO_PATIENTS} - set(server.patient_ids)
        assert not missing, f"demo patients not loaded: {missing}"
        yield server


@dataclass
class RunningService:
    app: Flask
    thread: ServiceThread
    log: ExchangeLog

    @property
    def discovery_url(self) -> str:
        return self.thread.discovery_url

    @property
    def service_url(self) -> str:
        return f"{self.thread.discovery_url}/osteopenia-management"


def sandbox_issuer_file(path: Path, jwks: dict[str, Any], fhir_base_url: str) -> Path:
    """The trusted-issuers file of a deployment that accepts the CDS Hooks sandbox."""
    entry = {
        "iss": SANDBOX_ISSUER,
        "jwks": jwks,
        "fhir_servers": [fhir_base_url],
        "description": "CDS Hooks sandbox; keys from the sandbox build's /.well-known/jwks.json",
    }
    path.write_text(json.dumps([entry], indent=2), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def e2e_service(
    sandbox_jwks: dict[str, Any],
    e2e_fhir: RunningFhirServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningService]:
    from cds_service.app import create_app  # here, so that a skipped run never imports it

    folder = tmp_path_factory.mktemp("service")
    issuers = sandbox_issuer_file(folder / "trusted-issuers.json", sandbox_jwks, e2e_fhir.base_url)
    settings = Settings(trusted_issuers_file=issuers, data_dir=folder)
    app = create_app(settings)
    log = ExchangeLog()
    log.install(app)
    with ServiceThread(app) as thread:
        yield RunningService(app=app, thread=thread, log=log)


@pytest.fixture(scope="session")
def browser(sandbox_dir: Path) -> Iterator[Browser]:
    chromium = Browser()
    try:
        yield chromium
    finally:
        chromium.close()


@pytest.fixture
def stage(
    browser: Browser,
    sandbox_site: SandboxSite,
    e2e_fhir: RunningFhirServer,
    e2e_service: RunningService,
) -> tuple[Browser, SandboxSite, RunningFhirServer, RunningService]:
    """Everything a sandbox test drives, with the browser's console log emptied."""
    browser.console.clear()
    return browser, sandbox_site, e2e_fhir, e2e_service
