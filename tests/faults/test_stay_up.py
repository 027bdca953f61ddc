"""One slow EHR never takes the service down: the production servers under hanging fetches.

Both ways of starting the production server are run as processes: the Docker image's CMD
(read from the Dockerfile, bound to loopback) and ``osteopenia-cds serve``. Each gets six hook
calls whose FHIR server accepts connections and never answers and two whose FHIR server
drip-feeds one byte at a time. While those eight wait for their fetch deadline:

* a call carrying its whole prefetch is answered with its cards (before any hanging call
  is: the bound is the hanging calls' own deadline, not a timing of the answer);
* one more call to the silent server is refused at once by the per-server cap, and one to a
  healthy server by the total cap, each with 412 and an OperationOutcome saying why.

Afterwards every hanging call has its 412 naming the timeout, the request log says which
calls timed out and why, and nothing is left behind: no connection to the FHIR servers, no
held fetch slot, no fetch thread beyond those of the workers' own thread pools.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cds_service.fetch_slots import FetchSlots
from tests.faults.fault_server import PATIENT_ID, FaultyFhirServer
from tests.support import processes
from tests.support.net import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PREFETCHED = ROOT / "tests" / "rules" / "requests" / "seed_osteopenia_frax_hip_02.json"
PATH = "/cds-services/osteopenia-management"

DEADLINE = 5.0  # CDS_FETCH_DEADLINE_SECONDS of the servers under test
SILENT, DRIP = 6, 2
PER_SERVER, TOTAL = SILENT, SILENT + DRIP  # the caps: every hanging call fits, one more not
# The one gunicorn option these tests add: gthread's pool grows by one thread per concurrent
# call, so the thread count may grow by at most the calls sent at once, never by fetch threads.
CONCURRENT_CALLS = SILENT + DRIP + 3


def dockerfile_cmd(port: int) -> list[str]:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    match = re.search(r"^CMD (\[.*\])$", text, re.M)
    assert match is not None, "no exec-form CMD in the Dockerfile"
    words = json.loads(match.group(1))
    assert "0.0.0.0:8080" in words
    return [w.replace("0.0.0.0:8080", f"127.0.0.1:{port}") for w in words]


def serve_cmd(port: int) -> list[str]:
    return [str(BIN / "osteopenia-cds"), "serve", "--host", "127.0.0.1", "--port", str(port)]


COMMANDS = {"dockerfile-cmd": dockerfile_cmd, "osteopenia-cds-serve": serve_cmd}


@dataclass
class Server:
    port: int
    process: subprocess.Popen[bytes]
    data_dir: Path
    log_path: Path

    def log_lines(self) -> list[dict[str, Any]]:
        lines = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    lines.append(json.loads(line))
                except ValueError:
                    continue
        return lines

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]

    def threads(self) -> int:
        return sum(len(os.listdir(f"/proc/{pid}/task")) for pid in self.worker_pids())


@dataclass
class Call:
    fhir_server: str
    status: int = 0
    body: dict[str, Any] = field(default_factory=dict)
    answered_at: float = 0.0


def post(port: int, body: bytes, timeout: float = 60) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{PATH}",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def fetching_call(fhir_server: str) -> bytes:
    return json.dumps(
        {
            "hook": "patient-view",
            "hookInstance": str(uuid.uuid4()),
            "fhirServer": fhir_server,
            "context": {"patientId": PATIENT_ID, "userId": "Practitioner/stay-up"},
        }
    ).encode()


def start_call(port: int, call: Call) -> threading.Thread:
    def run() -> None:
        call.status, call.body = post(port, fetching_call(call.fhir_server))
        call.answered_at = time.monotonic()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def connections_to(port: int) -> int:
    """Open TCP connections (any state but closed/listening) whose remote port is ``port``."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            state = fields[3]
            if remote_port == port and state not in ("07", "0A", "06"):  # CLOSE, LISTEN, TIME_WAIT
                count += 1
    return count


def wait_for(condition: Any, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return bool(condition())


@pytest.fixture(scope="module")
def faults() -> Iterator[FaultyFhirServer]:
    # The drip sends a byte every 0.25 s: well inside the service's read timeout, so only the
    # total deadline ends it.
    with FaultyFhirServer(read_timeout=1.0) as server:
        yield server


@pytest.fixture(params=sorted(COMMANDS))
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    if not (BIN / "gunicorn").exists():
        pytest.skip("gunicorn is not installed in this environment")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CDS_", "GUNICORN_"))}
    env.pop("DATABASE_URL", None)
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            "CDS_DATA_DIR": str(tmp_path / "data"),
            "CDS_FETCH_DEADLINE_SECONDS": str(DEADLINE),
            "CDS_FETCH_MAX_PER_SERVER": str(PER_SERVER),
            "CDS_FETCH_MAX_TOTAL": str(TOTAL),
        }
    )
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            COMMANDS[request.param](port),
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    served = Server(port, process, tmp_path / "data", log_path)
    try:
        ready = wait_for(lambda: process.poll() is not None or _answers(port), 60)
        assert ready and process.poll() is None, log_path.read_text()[-3000:]
        yield served
    finally:
        processes.stop(process)


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            pass
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def test_prefetched_calls_are_answered_while_eight_calls_hang(
    server: Server, faults: FaultyFhirServer
) -> None:
    prefetched = PREFETCHED.read_bytes()
    for _ in range(4):  # every worker up, lazy imports loaded
        assert post(server.port, prefetched)[0] == 200
    threads_before = server.threads()
    slots = FetchSlots(server.data_dir / "fetch-slots", per_server=PER_SERVER, total=TOTAL)

    started = time.monotonic()
    hanging = [Call(faults.url("blackhole")) for _ in range(SILENT)]
    hanging += [Call(faults.url("drip")) for _ in range(DRIP)]
    workers = [start_call(server.port, call) for call in hanging]
    assert wait_for(lambda: slots.held() == TOTAL, DEADLINE / 2), "the calls did not start"

    # A call with its whole prefetch, from another EHR: answered while all eight still wait.
    status, body = post(server.port, prefetched, timeout=DEADLINE)
    answered = time.monotonic()
    assert status == 200, body
    assert {card["source"]["topic"]["code"] for card in body["cards"]} == {"R2", "R4"}

    # Over the caps: refused at once, while the eight still wait.
    over_server = Call(faults.url("blackhole"))
    over_total = Call(faults.url("healthy"))
    for call in (over_server, over_total):
        call.status, call.body = post(server.port, fetching_call(call.fhir_server), DEADLINE)
        call.answered_at = time.monotonic()
    assert all(call.answered_at == 0.0 for call in hanging), "a hanging call ended early"
    assert slots.held() == TOTAL
    assert answered - started < DEADLINE
    for call, limit in ((over_server, "per-server limit"), (over_total, "service's limit")):
        assert call.status == 412, call.body
        assert call.body["resourceType"] == "OperationOutcome"
        assert all(limit in issue["diagnostics"] for issue in call.body["issue"]), call.body

    for worker in workers:
        worker.join(timeout=DEADLINE * 4)
    for call in hanging:
        assert call.status == 412, call.body
        assert all("did not answer in time" in i["diagnostics"] for i in call.body["issue"])

    # Nothing left behind: no connection to the FHIR servers, no slot, no fetch thread.
    assert wait_for(lambda: connections_to(faults_port(faults)) == 0, 5), "connections left open"
    assert faults.wait_idle(5), f"{faults.in_flight()} requests still open on the FHIR server"
    assert slots.held() == 0
    assert wait_for(lambda: server.threads() <= threads_before + CONCURRENT_CALLS, 5), (
        f"threads: {threads_before} before, {server.threads()} after"
    )
    assert post(server.port, prefetched)[0] == 200

    # The request log names each call that timed out, where it fetched from, and why.
    lines = [line for line in server.log_lines() if line.get("event") == "request"]
    timed_out = [line for line in lines if line.get("reason") == "prefetch_unavailable"]
    assert len(timed_out) == SILENT + DRIP
    for line in timed_out:
        assert line["status"] == 412 and line["hookInstance"]
        assert line["fhirServer"] in (faults.url("blackhole"), faults.url("drip"))
        [(why, keys)] = line["fetchFailures"].items()
        assert "did not answer in time" in why and keys == line["prefetchMissing"]
        assert line["duration_ms"] >= DEADLINE * 1000 * 0.9
    refused = [line for line in lines if line.get("reason") == "fetch_cap_reached"]
    assert {line["fhirServer"] for line in refused} == {
        faults.url("blackhole"),
        faults.url("healthy"),
    }


def faults_port(faults: FaultyFhirServer) -> int:
    return int(faults.base.rsplit(":", 1)[1])
