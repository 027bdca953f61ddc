"""The dashboard in headless Chromium: what a committee member sees matches the store.

Runs in ``make test`` (tests/support/ensure_chromium.sh installs Debian's chromium and
chromium-driver when missing). With DASHBOARD_SCREENSHOT=1 it refreshes docs/dashboard.png.
"""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask

from tests.e2e.browser import Browser, missing_browser
from tests.governance.dashboard_data import RULES_FILE, populate, store_numbers
from tests.support.service_thread import ServiceThread

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "dashboard.png"


@pytest.fixture
def browser() -> Iterator[Browser]:
    reason = missing_browser()
    if reason:
        pytest.skip(f"{reason}; tests/support/ensure_chromium.sh installs them")
    browser = Browser()
    try:
        yield browser
    finally:
        browser.close()


def test_the_dashboard_in_chromium(make_app: Callable[..., Flask], browser: Browser) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    app = make_app(RULES_FILE)
    populate(app)
    expected = store_numbers(app)
    with ServiceThread(app) as service:
        driver = browser.driver
        driver.get(f"{service.url}/analytics/dashboard")
        assert driver.title == "osteopenia-cds: rule governance"
        for rule, numbers in expected.items():
            row = driver.find_element(By.CSS_SELECTOR, f'#rules tr[data-rule="{rule}"]')
            for column in ("issued", "shown", "silent", "suppressed", "accepted", "overridden"):
                cell = row.find_element(By.CSS_SELECTOR, f'td[data-col="{column}"]')
                assert cell.text == str(numbers[column]), (rule, column)
        # The charts are drawn: a visible bar per non-zero count, a line chart per rule.
        bars = driver.find_elements(By.CSS_SELECTOR, "rect[class^='bar-']")
        assert sorted(int(b.get_attribute("data-count")) for b in bars) == sorted(
            n[d] for n in expected.values() for d in ("shown", "silent", "suppressed") if n[d]
        )
        assert all(b.size["width"] > 0 for b in bars)
        charts = driver.find_elements(By.CSS_SELECTOR, "figure svg")
        assert len(charts) == len(expected) and all(c.size["height"] > 100 for c in charts)
        r4_chart = driver.find_element(By.CSS_SELECTOR, 'figure[data-rule="R4"] svg')
        assert r4_chart.find_elements(By.CSS_SELECTOR, "rect.series-suppressed")
        assert r4_chart.find_elements(By.CSS_SELECTOR, "rect.series-shown")
        assert r4_chart.find_elements(By.CSS_SELECTOR, "polyline.series-overridden")
        if os.environ.get("DASHBOARD_SCREENSHOT") == "1":
            driver.set_window_size(1280, 1120)
            SCREENSHOT.write_bytes(driver.get_screenshot_as_png())

        # The period selector: an empty period, then back to the presets.
        for name, value in (("since", "2020-01-01"), ("until", "2020-12-31")):
            field = driver.find_element(By.NAME, name)
            driver.execute_script("arguments[0].value = arguments[1]", field, value)
        driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        wait = WebDriverWait(driver, 20)
        wait.until(lambda d: "since=2020-01-01" in d.current_url)
        wait.until(lambda d: "No cards issued" in d.find_element(By.ID, "rules").text)
        assert driver.find_element(By.NAME, "since").get_attribute("value") == "2020-01-01"
        driver.find_element(By.LINK_TEXT, "30 days").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, '#rules tr[data-rule="R4"]'))

        # The CSV link serves the same numbers.
        href = driver.find_element(By.ID, "csv").get_attribute("href")
        assert href.startswith(service.url) and "format=csv" in href
        with urllib.request.urlopen(href, timeout=10) as answer:
            text = answer.read().decode("utf-8")
        assert text.splitlines()[0].startswith("rule,issued,shown,silent,suppressed")
        assert any(line.startswith("R4,3,1,0,2,") for line in text.splitlines())
        assert browser.external_responses() == []
