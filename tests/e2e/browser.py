"""Headless Chromium (Debian's chromium + chromium-driver) driven through selenium.

Every request stays on 127.0.0.1: the resolver maps every other host name to "not found"
(the sandbox has defaults that point at public servers), background services of the browser
are off, and the network log is kept so a test can prove nothing else answered.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
LOOPBACK = "127.0.0.1"

CHROMIUM_ARGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--metrics-recording-only",
    "--no-pings",
    "--disable-dev-shm-usage",
    f"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE {LOOPBACK}",
    "--window-size=1400,1100",
)


def missing_browser() -> str | None:
    """Why the browser cannot run here, or None."""
    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        return f"{CHROMIUM} and {CHROMEDRIVER} are needed (Debian: chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    return None


@dataclass(frozen=True, slots=True)
class NetworkEvent:
    url: str
    status: int | None  # None: the request failed (e.g. the host was not resolved)

    @property
    def host(self) -> str | None:
        return urlsplit(self.url).hostname


class Browser:
    """One Chromium with a fresh profile; ``close()`` removes the profile."""

    def __init__(self) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self._profile = Path(tempfile.mkdtemp(prefix="cds-e2e-chromium-"))
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for arg in (*CHROMIUM_ARGS, f"--user-data-dir={self._profile}"):
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
        # An explicit driver path keeps selenium from looking for (or downloading) one.
        self.driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
        self.driver.set_page_load_timeout(30)
        self._requests: dict[str, str] = {}
        self._done: set[str] = set()  # requests answered or failed
        self._events: list[NetworkEvent] = []
        self.console: list[dict[str, Any]] = []

    def close(self) -> None:
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self._profile, ignore_errors=True)

    def drain_logs(self) -> None:
        """Move the browser's performance and console logs into ``network`` / ``console``."""
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            method, params = message.get("method"), message.get("params", {})
            if method == "Network.requestWillBeSent":
                self._requests[params["requestId"]] = params["request"]["url"]
            elif method == "Network.responseReceived":
                response = params["response"]
                self._events.append(NetworkEvent(response["url"], int(response["status"])))
                self._done.add(params["requestId"])
            elif method == "Network.loadingFinished":
                self._done.add(params["requestId"])
            elif method == "Network.loadingFailed":
                self._done.add(params["requestId"])
                url = self._requests.get(params["requestId"])
                if url is not None:
                    self._events.append(NetworkEvent(url, None))
        self.console.extend(self.driver.get_log("browser"))

    @property
    def network(self) -> list[NetworkEvent]:
        self.drain_logs()
        return [e for e in self._events if e.url.startswith(("http:", "https:"))]

    def requests_in_flight(self) -> list[str]:
        """URLs of http(s) requests sent and not yet answered (nor failed)."""
        self.drain_logs()
        return [
            url
            for request_id, url in self._requests.items()
            if request_id not in self._done and url.startswith(("http:", "https:"))
        ]

    def forget_in_flight(self) -> None:
        """Leave out of ``requests_in_flight`` what an earlier page left unanswered."""
        self.drain_logs()
        self._done.update(self._requests)

    def requested_urls(self) -> list[str]:
        self.drain_logs()
        return [u for u in self._requests.values() if u.startswith(("http:", "https:"))]

    def external_responses(self) -> list[NetworkEvent]:
        """Responses that came from anywhere but 127.0.0.1 (there must be none)."""
        return [e for e in self.network if e.status is not None and e.host != LOOPBACK]

    def reset_storage(self, origin: str) -> None:
        """Forget what the sandbox persisted (services, FHIR server, patient) for ``origin``."""
        self.driver.get(f"{origin}/.well-known/jwks.json")
        self.driver.execute_script("window.localStorage.clear();")
