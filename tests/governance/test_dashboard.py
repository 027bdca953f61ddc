"""GET /analytics/dashboard: the numbers of the store, a period, CSV, and its access rules."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask

from tests.governance.dashboard_data import RULES_FILE, populate, store_numbers
from tests.governance.test_rule_modes import EHR_PILOT, _bearer, _issuers_file

DASHBOARD = "/analytics/dashboard"


class _Table(HTMLParser):
    """The per-rule table: {rule: {column: text}}."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, dict[str, str]] = {}
        self._rule: str | None = None
        self._col: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "tr" and a.get("data-rule"):
            self._rule = a["data-rule"]
            self.rows[self._rule] = {}
        elif tag == "td" and self._rule and a.get("data-col"):
            self._col = a["data-col"]
            self.rows[self._rule][self._col] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._col = None
        elif tag == "tr":
            self._rule = None

    def handle_data(self, data: str) -> None:
        if self._rule and self._col:
            self.rows[self._rule][self._col] += data


def table_of(html: str) -> dict[str, dict[str, str]]:
    parser = _Table()
    parser.feed(html)
    return parser.rows


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    app = make_app(RULES_FILE)
    populate(app)
    return app


def test_the_dashboard_shows_the_numbers_of_the_store(app: Flask) -> None:
    response = app.test_client().get(DASHBOARD)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    expected = store_numbers(app)
    assert expected["R3"]["silent"] == 3 and expected["R4"]["suppressed"] == 2  # the scenario
    rows = table_of(response.get_data(as_text=True))
    assert set(rows) == set(expected)
    for rule, numbers in expected.items():
        for column in ("issued", "shown", "silent", "suppressed", "accepted", "overridden"):
            assert rows[rule][column] == str(numbers[column]), (rule, column)
    assert "Patient declines treatment (patient-declines): 1" in rows["R4"]["reasons"]
    assert rows["R2"]["acceptance"] == "100%"
    html = response.get_data(as_text=True)
    # The bar chart carries the same numbers; one line chart per rule.
    for rule, numbers in expected.items():
        for disposition in ("shown", "silent", "suppressed"):
            bar = (
                f'class="bar-{disposition}" data-rule="{rule}" data-count="{numbers[disposition]}"'
            )
            assert (bar in html) == bool(numbers[disposition]), (rule, disposition)
        assert f'<figure data-rule="{rule}">' in html


def test_the_dashboard_is_self_contained(app: Flask) -> None:
    response = app.test_client().get(DASHBOARD)
    html = response.get_data(as_text=True)
    assert "<script" not in html and not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_period_selector(app: Flask) -> None:
    client = app.test_client()
    today = datetime.now(UTC).date()
    html = client.get(DASHBOARD).get_data(as_text=True)
    assert f'name="since" value="{today - timedelta(days=29)}"' in html  # last 30 days
    past = client.get(f"{DASHBOARD}?since=2020-01-01&until=2020-12-31").get_data(as_text=True)
    assert table_of(past) == {}
    assert "No cards issued and no feedback in this period." in past
    everything = client.get(f"{DASHBOARD}?since=&until=").get_data(as_text=True)
    assert table_of(everything)["R4"]["issued"] == "3"
    bad = client.get(f"{DASHBOARD}?since=yesterday")
    assert bad.status_code == 400 and bad.get_json()["resourceType"] == "OperationOutcome"


def test_csv_download_matches_the_table(app: Flask) -> None:
    client = app.test_client()
    html = client.get(DASHBOARD).get_data(as_text=True)
    link = re.search(r'id="csv" href="([^"]+)"', html)
    assert link is not None
    response = client.get(link.group(1).replace("&amp;", "&"))
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = {r["rule"]: r for r in csv.DictReader(io.StringIO(response.get_data(as_text=True)))}
    for rule, numbers in store_numbers(app).items():
        for column in ("issued", "shown", "silent", "suppressed", "accepted", "overridden"):
            assert rows[rule][column] == str(numbers[column])
    assert client.get("/analytics?format=xml").status_code == 400


def test_the_json_report_has_the_timeline(app: Flask) -> None:
    body = app.test_client().get("/analytics").get_json()
    today = datetime.now(UTC).date().isoformat()
    [r4] = [t for t in body["timeline"] if t["rule"] == "R4" and t["date"] == today]
    assert (r4["shown"], r4["suppressed"], r4["overridden"]) == (1, 2, 1)
    [r3] = [r for r in body["rules"] if r["rule"] == "R3"]
    assert (r3["issued"], r3["shown"], r3["silent"]) == (3, 0, 3)


def test_loopback_only_when_authentication_is_off(app: Flask) -> None:
    remote = app.test_client().get(DASHBOARD, environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert remote.status_code == 401
    local = app.test_client().get(DASHBOARD, environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert local.status_code == 200


def test_a_bearer_token_is_required_when_authentication_is_on(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:

    key = ec.generate_private_key(ec.SECP384R1())
    app = make_app(trusted_issuers_file=_issuers_file(tmp_path, key))
    client = app.test_client()
    assert client.get(DASHBOARD).status_code == 401
    ok = client.get(DASHBOARD, headers=_bearer(key, EHR_PILOT, DASHBOARD))
    assert ok.status_code == 200 and ok.mimetype == "text/html"
