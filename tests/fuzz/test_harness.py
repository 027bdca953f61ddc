"""The fuzzers' own checks catch what they are meant to catch (a fuzzer that cannot fail
proves nothing)."""

from __future__ import annotations

import json
import socket

import pytest
import requests
from flask import Flask

from tests.fuzz.http_fuzz import HttpFuzzer
from tests.fuzz.netguard import loopback_only
from tests.openapi.corpus import SERVICE_URL

OUTCOME = json.dumps(
    {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "invalid", "diagnostics": "x"}],
    }
).encode()


@pytest.mark.parametrize(
    ("method", "path", "status", "content_type", "body", "headers", "caught"),
    [
        ("POST", SERVICE_URL, 500, "application/json", OUTCOME, {}, "server error"),
        ("POST", SERVICE_URL, 400, "text/html", b"<h1>Bad</h1>", {}, "not JSON"),
        ("POST", SERVICE_URL, 400, "application/json", b"", {}, "without a body"),
        ("POST", SERVICE_URL, 400, "application/json", b'{"error": "x"}', {}, "resourceType"),
        ("POST", SERVICE_URL, 418, "application/json", OUTCOME, {}, "not documented"),
        (
            "POST",
            SERVICE_URL,
            200,
            "application/json",
            b'{"cards": [{"summary": ""}]}',
            {},
            "cards",
        ),
        ("GET", SERVICE_URL, 405, "application/json", OUTCOME, {}, "Allow"),
    ],
)
def test_check_reports_violations(
    app: Flask,
    method: str,
    path: str,
    status: int,
    content_type: str,
    body: bytes,
    headers: dict[str, str],
    caught: str,
) -> None:
    fuzzer = HttpFuzzer(app, "http://127.0.0.1:9")
    fuzzer.check("test", method, path, status, content_type, body, headers, "request")
    assert len(fuzzer.report.findings) == 1
    assert caught in " ".join(fuzzer.report.findings[0].problems)


def test_check_accepts_a_conforming_answer(app: Flask) -> None:
    fuzzer = HttpFuzzer(app, "http://127.0.0.1:9")
    fuzzer.check("test", "POST", SERVICE_URL, 412, "application/json", OUTCOME, {}, "request")
    fuzzer.check(
        "test", "GET", SERVICE_URL, 405, "application/json", OUTCOME, {"Allow": "POST"}, "r"
    )
    assert fuzzer.report.findings == []
    assert fuzzer.report.requests == 2


def test_netguard_blocks_everything_but_loopback() -> None:
    with loopback_only() as blocked:
        with pytest.raises(OSError):
            socket.getaddrinfo("example.org", 443)
        with pytest.raises(OSError):
            socket.create_connection(("192.0.2.1", 80), timeout=0.1)
        with pytest.raises(requests.ConnectionError):
            requests.get("http://198.51.100.7/metadata", timeout=0.5)
        assert socket.getaddrinfo("127.0.0.1", 80)
    assert len(blocked) == 3
