"""A FHIR server on 127.0.0.1 that misbehaves on purpose, one fault per URL prefix.

``fhirServer = f"{server.base}/{fault}"`` makes every query of the fall-back fetch hit that
fault: ``/slow/Patient/1`` answers after the read timeout, ``/blackhole/...`` accepts the
connection and never answers, and so on (see ``FAULTS``). ``/healthy/...`` answers like a
small, correct FHIR server, so a test can check the fault, not the plumbing, is what fails.

The server runs in a daemon thread inside the test process. Handlers that stall wait on the
server's stop event, so ``close()`` releases every connection at once.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

PATIENT_ID = "fault-patient"
HUGE_BUNDLE_ENTRIES = 100_000


def _patient() -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": PATIENT_ID,
        "gender": "female",
        "birthDate": "1955-03-14",
    }


def _t_score_observation(index: int) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": f"dxa-{index}",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "38265-5"}]},
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
        "effectiveDateTime": "2020-01-15",
        "valueQuantity": {"value": -1.8, "unit": "{T-score}"},
    }


def _bundle(resources: list[dict[str, Any]], links: list[dict[str, str]] | None = None) -> bytes:
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [
            {"fullUrl": f"urn:uuid:{r['resourceType']}-{r['id']}", "resource": r} for r in resources
        ],
    }
    if links:
        bundle["link"] = links
    if not bundle["entry"]:
        del bundle["entry"]
    return json.dumps(bundle).encode()


class _State:
    """Shared by all handler threads: the stop event, hit counts, the cached huge body."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.hits: Counter[str] = Counter()
        self.in_flight = 0
        self.lock = threading.Lock()
        self._huge: bytes | None = None

    def huge_bundle(self) -> bytes:
        with self.lock:
            if self._huge is None:
                # Compact entries, so the body (about 15 MB) stays under the client's size cap
                # and it is the number of entries that the client must cope with.
                entry = (
                    '{"resource":{"resourceType":"Observation","id":"%x",'
                    '"code":{"coding":[{"system":"http://loinc.org","code":"38265-5"}]},'
                    '"effectiveDateTime":"2020-01-15","valueQuantity":{"value":-1.8}}}'
                )
                entries = ",".join(entry % i for i in range(HUGE_BUNDLE_ENTRIES))
                head = '{"resourceType":"Bundle","type":"searchset","entry":['
                self._huge = (head + entries + "]}").encode()
            return self._huge


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: ClassVar[_State]
    read_timeout: ClassVar[float]

    def log_message(self, format: str, *args: Any) -> None:  # quiet in test output
        pass

    # -- plumbing -------------------------------------------------------------------------

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str = "application/fhir+json",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)

    def _base(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def _healthy(self, path: str, query: dict[str, list[str]]) -> None:
        if path.startswith("Patient/"):
            self._send(200, json.dumps(_patient()).encode())
        elif path.startswith("Observation"):
            self._send(200, _bundle([_t_score_observation(0)]))
        else:
            self._send(200, _bundle([]))

    # -- the faults -----------------------------------------------------------------------

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        fault, _, rest = url.path.lstrip("/").partition("/")
        query = parse_qs(url.query)
        with self.state.lock:
            self.state.hits[fault] += 1
        handler = FAULTS.get(fault)
        if handler is None:
            self._send(404, b'{"resourceType":"OperationOutcome","issue":[]}')
            return
        with self.state.lock:
            self.state.in_flight += 1
        try:
            handler(self, rest, query)
        finally:
            with self.state.lock:
                self.state.in_flight -= 1

    def _stall(self, seconds: float | None) -> bool:
        """Wait up to ``seconds`` (forever if None); False as soon as the client hangs up."""
        end = None if seconds is None else time.monotonic() + seconds
        while not self.state.stop.is_set():
            if end is not None and time.monotonic() >= end:
                return True
            readable, _, _ = select.select([self.connection], [], [], 0.02)
            if readable:
                try:
                    if self.connection.recv(1, socket.MSG_PEEK) == b"":
                        return False
                except OSError:
                    return False
        return False

    def fault_healthy(self, path: str, query: dict[str, list[str]]) -> None:
        self._healthy(path, query)

    def fault_slow(self, path: str, query: dict[str, list[str]]) -> None:
        # Answers correctly, but only well after the client's read timeout.
        if self._stall(self.read_timeout * 4 + 2):
            self._healthy(path, query)
        self.close_connection = True

    def fault_blackhole(self, path: str, query: dict[str, list[str]]) -> None:
        # Accepted, request read, never a byte back; the connection stays open until close().
        self._stall(None)
        self.close_connection = True

    def fault_drip(self, path: str, query: dict[str, list[str]]) -> None:
        # One byte at a time, each well inside the read timeout: only a total deadline ends it.
        self.send_response(200)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", "1000000")
        self.end_headers()
        try:
            while not self.state.stop.wait(self.read_timeout / 4):
                self.wfile.write(b" ")
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True

    def fault_error500(self, path: str, query: dict[str, list[str]]) -> None:
        body = {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "fatal", "code": "exception", "diagnostics": "boom"}],
        }
        self._send(500, json.dumps(body).encode())

    def fault_throttled(self, path: str, query: dict[str, list[str]]) -> None:
        # Retry-After far beyond any deadline: a client that sleeps on it blocks the worker.
        self._send(
            429, b'{"resourceType":"OperationOutcome","issue":[]}', headers={"Retry-After": "120"}
        )

    def fault_truncated(self, path: str, query: dict[str, list[str]]) -> None:
        body = _bundle([_t_score_observation(i) for i in range(50)])
        self.send_response(200)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 3])
        self.wfile.flush()
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def fault_notjson(self, path: str, query: dict[str, list[str]]) -> None:
        self._send(200, b"<html><body>Service Unavailable</body></html>", "text/html")

    def fault_badjson(self, path: str, query: dict[str, list[str]]) -> None:
        # Claims FHIR JSON, is not JSON.
        self._send(
            200, b'{"resourceType": "Bundle", "entry": [{"resource": ', "application/fhir+json"
        )

    def fault_notfhir(self, path: str, query: dict[str, list[str]]) -> None:
        # Valid JSON, but not a FHIR resource.
        self._send(200, b'[1, 2, {"hello": "world"}]')

    def fault_endless(self, path: str, query: dict[str, list[str]]) -> None:
        # Every page links to a fresh next page: no loop a URL set would catch.
        if path.startswith("Patient/"):
            self._send(200, json.dumps(_patient()).encode())
            return
        page = int((query.get("page") or ["0"])[0]) + 1
        next_url = f"{self._base()}/endless/{path.split('?')[0]}?page={page}"
        self._send(
            200, _bundle([_t_score_observation(page)], [{"relation": "next", "url": next_url}])
        )

    def fault_huge(self, path: str, query: dict[str, list[str]]) -> None:
        # The DXA T-score search returns 100,000 entries; everything else is healthy. (One
        # such body, not one per query: parsing many of them measures the CPU, not the client.)
        if any("38265-5" in code for code in query.get("code", [])):
            self._send(200, self.state.huge_bundle())
        else:
            self._healthy(path, query)

    def fault_redirect(self, path: str, query: dict[str, list[str]]) -> None:
        # A to B to A ...: a redirect loop between two URLs.
        hop = int((query.get("hop") or ["0"])[0])
        target = f"{self._base()}/redirect/{path.split('?')[0]}?hop={1 - hop}"
        self._send(302, b"", "text/plain", headers={"Location": target})

    def fault_partial(self, path: str, query: dict[str, list[str]]) -> None:
        # The Patient reads fine, every search fails: what could be read is only the Patient.
        if path.startswith("Patient/"):
            self._send(200, json.dumps(_patient()).encode())
        else:
            self.fault_error500(path, query)


FAULTS: dict[str, Callable[[_Handler, str, dict[str, list[str]]], None]] = {
    "healthy": _Handler.fault_healthy,
    "slow": _Handler.fault_slow,
    "blackhole": _Handler.fault_blackhole,
    "drip": _Handler.fault_drip,
    "error500": _Handler.fault_error500,
    "throttled": _Handler.fault_throttled,
    "truncated": _Handler.fault_truncated,
    "notjson": _Handler.fault_notjson,
    "badjson": _Handler.fault_badjson,
    "notfhir": _Handler.fault_notfhir,
    "endless": _Handler.fault_endless,
    "huge": _Handler.fault_huge,
    "redirect": _Handler.fault_redirect,
    "partial": _Handler.fault_partial,
}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that give up reset their connections: expected here, not worth a traceback.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FaultyFhirServer:
    """``with FaultyFhirServer(read_timeout=0.3) as server: server.url("slow")``."""

    def __init__(self, *, read_timeout: float) -> None:
        self.state = _State()
        handler = type(
            "FaultHandler", (_Handler,), {"state": self.state, "read_timeout": read_timeout}
        )
        self._server = _Server(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, fault: str) -> str:
        if fault not in FAULTS:
            raise KeyError(fault)
        return f"{self.base}/{fault}"

    def hits(self, fault: str) -> int:
        with self.state.lock:
            return self.state.hits[fault]

    def in_flight(self) -> int:
        """Requests the server is still answering (stalling, dripping) right now."""
        with self.state.lock:
            return self.state.in_flight

    def wait_idle(self, timeout: float) -> bool:
        """True once no request is in flight: the client hung up on every stalled one."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.in_flight() == 0:
                return True
            time.sleep(0.02)
        return self.in_flight() == 0

    def start(self) -> FaultyFhirServer:
        self.state.huge_bundle()  # built before any client waits on it
        self._thread.start()
        return self

    def close(self) -> None:
        self.state.stop.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FaultyFhirServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
