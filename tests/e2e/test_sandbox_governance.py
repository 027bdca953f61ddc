"""Rule governance in the real CDS Hooks sandbox, as a CDS team tries it.

R2 is silent: the sandbox shows the patient's other cards and no R2 card, while
``osteopenia-cds report`` counts the R2 card as silent. The clinician dismisses the R4 card
with "Patient declines treatment"; on reopening the chart the R4 card is gone (suppressed),
and the dashboard shows the override. The service runs with authentication on (the sandbox's
JWTs); the dashboard is read through a second instance on the same database with
authentication off, which serves loopback callers only, as a committee member on the host would.
GOVERNANCE_SCREENSHOT_DIR=<folder> keeps the screenshots (governance-*.png) there.
"""

from __future__ import annotations

import argparse
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By

from cds_service.app import create_app
from cds_service.settings import Settings
from cds_service.store.cli import run_report
from tests.e2e.browser import Browser
from tests.e2e.conftest import RunningService, sandbox_issuer_file
from tests.e2e.exchange_log import ExchangeLog
from tests.e2e.test_sandbox import (
    _card_element,
    _feedback_exchanges,
    _rule,
    _settled_menu_item,
    _shown,
    _wait,
    open_patient,
)
from tests.support.fhir_server import RunningFhirServer
from tests.support.sandbox_site import SandboxSite
from tests.support.service_thread import ServiceThread

PATIENT = "demo-treatment-indicated"


@pytest.fixture(scope="module")
def governed_service(
    sandbox_jwks: dict[str, Any],
    e2e_fhir: RunningFhirServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningService]:
    folder = tmp_path_factory.mktemp("governed")
    issuers = sandbox_issuer_file(folder / "trusted-issuers.json", sandbox_jwks, e2e_fhir.base_url)
    rules = folder / "rules.json"
    rules.write_text(json.dumps({"rules": {"R2": "silent"}}), encoding="utf-8")
    settings = Settings(trusted_issuers_file=issuers, rules_file=rules, data_dir=folder / "var")
    app = create_app(settings)
    log = ExchangeLog()
    log.install(app)
    with ServiceThread(app) as thread:
        yield RunningService(app=app, thread=thread, log=log)
    app.extensions["store"].close()


def _screenshot(browser: Browser, name: str, tmp_path: Path) -> Path:
    folder = Path(os.environ.get("GOVERNANCE_SCREENSHOT_DIR", "").strip() or tmp_path)
    path = folder / f"governance-{name}.png"
    driver = browser.driver
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1400, max(900, min(int(height) + 120, 4000)))
    try:
        assert driver.save_screenshot(str(path))
    finally:
        driver.set_window_size(1400, 1100)
    return path


def _report(settings: Settings) -> str:
    out = io.StringIO()
    args = argparse.Namespace(since=None, until=None, format="csv")
    assert run_report(args, settings, out) == 0
    return out.getvalue()


def test_silent_rule_snoozed_rule_and_the_dashboard(
    browser: Browser,
    sandbox_site: SandboxSite,
    e2e_fhir: RunningFhirServer,
    governed_service: RunningService,
    tmp_path: Path,
) -> None:
    service = governed_service
    settings: Settings = service.app.extensions["cds_settings"]

    # R2 silent: not in the sandbox, counted by the report.
    answer = open_patient(browser, sandbox_site, e2e_fhir, service, PATIENT)
    rules = {_rule(c) for c in answer["cards"]}
    assert "R2" not in rules and "R4" in rules, rules
    _screenshot(browser, "r2-silent", tmp_path)
    service.app.extensions["card_log"].flush()
    report = {line.split(",")[0]: line.split(",") for line in _report(settings).splitlines()}
    # rule, issued, shown, silent, suppressed, ...
    assert report["R2"][1:5] == [report["R2"][1], "0", report["R2"][1], "0"]
    assert int(report["R2"][3]) >= 1

    # Dismiss R4 with "Patient declines treatment".
    treatment = next(c for c in answer["cards"] if _rule(c) == "R4")
    [declines] = [r for r in treatment["overrideReasons"] if r["code"] == "patient-declines"]
    card = _card_element(browser, treatment["summary"])
    toggle = card.find_element(By.CSS_SELECTOR, "button[aria-label='select dismiss reason']")
    toggle.click()
    menu_id = _wait(lambda: toggle.get_attribute("aria-controls"), "the override reasons menu")
    # Only once the menu has finished opening: mid-transition the items move under the
    # pointer, and a click can pick the reason beside the one meant.
    label = "Override: " + declines["display"]
    item = _wait(lambda: _settled_menu_item(browser, menu_id, label), "the menu to finish opening")
    item.click()
    sent = service.log.wait_for(lambda _: _feedback_exchanges(service))
    assert sent[-1].status == 200 and sent[-1].response_json["stored"] == 1

    # Reopen the chart: no R4 card.
    again = open_patient(browser, sandbox_site, e2e_fhir, service, PATIENT)
    assert "R4" not in {_rule(c) for c in again["cards"]}
    assert not _shown(browser, treatment["summary"])
    _screenshot(browser, "r4-snoozed", tmp_path)
    service.app.extensions["card_log"].flush()

    # The dashboard, read on the host through an instance on the same database.
    committee = create_app(
        Settings(
            database_url=settings.effective_database_url,
            data_dir=settings.data_dir.parent / "committee",
        )
    )
    try:
        with ServiceThread(committee) as thread:
            browser.driver.get(f"{thread.url}/analytics/dashboard")
            r4 = browser.driver.find_element(By.CSS_SELECTOR, '#rules tr[data-rule="R4"]')
            cells = {
                c.get_attribute("data-col"): c.text
                for c in r4.find_elements(By.CSS_SELECTOR, "td[data-col]")
            }
            assert cells["overridden"] == "1"
            assert int(cells["suppressed"]) >= 1
            assert "Patient declines treatment (patient-declines): 1" in cells["reasons"]
            r2 = browser.driver.find_element(By.CSS_SELECTOR, '#rules tr[data-rule="R2"]')
            r2_silent = r2.find_element(By.CSS_SELECTOR, 'td[data-col="silent"]').text
            assert int(r2_silent) >= 1
            _screenshot(browser, "dashboard", tmp_path)
    finally:
        committee.extensions["store"].close()
    assert not browser.external_responses()
