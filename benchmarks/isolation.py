"""Worker models compared: prefetched calls under wrk while other calls hang on their EHR.

Each candidate runs the service under gunicorn with the config module every start uses
(``cds_service.gunicorn_conf``) and its own worker options. wrk measures prefetched calls
twice: alone, then while six calls fetch from a FHIR server that accepts connections and never
answers and two from one that sends a byte at a time (tests/faults/fault_server.py), all
within the default fetch deadline. A model isolates when the second run keeps most of the
first's throughput and its p99 stays far below the deadline.

    python -m benchmarks.isolation [--seconds 5] [--candidates gthread,sync]
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.http_bench import PATH, wait_until_serving
from benchmarks.servers import HOST, GunicornSettings, RunningServer, service_server
from benchmarks.wrk import WrkResult, run_wrk
from tests.faults.fault_server import PATIENT_ID, FaultyFhirServer

CONFIG = ("--config", "python:cds_service.gunicorn_conf")
SILENT_CALLS = 6
DRIP_CALLS = 2
NO_CAP = {"CDS_FETCH_MAX_PER_SERVER": "1000", "CDS_FETCH_MAX_TOTAL": "1000"}
FETCH_DEADLINE_S = 8.0


@dataclass(frozen=True)
class Candidate:
    name: str
    key: str
    options: tuple[str, ...]  # gunicorn options after the config module
    env: dict[str, str] = field(default_factory=dict)


CANDIDATES = (
    Candidate(
        "sync, 2 workers (before)", "sync", ("--worker-class", "sync", "--threads", "1"), NO_CAP
    ),
    Candidate(
        "sync, 2 workers, 1 fall-back fetch at a time",
        "sync-cap",
        ("--worker-class", "sync", "--threads", "1"),
        {"CDS_FETCH_MAX_PER_SERVER": "1", "CDS_FETCH_MAX_TOTAL": "1"},
    ),
    Candidate("gthread, 2 workers × 16 threads", "gthread", ("--worker-class", "gthread")),
    Candidate(
        "gthread, 2 workers × 16 threads, connections kept alive (before)",
        "gthread-keepalive",
        ("--worker-class", "gthread", "--keep-alive", "2"),
    ),
    Candidate(
        "gthread, 2 workers × 16 threads, no fetch cap",
        "gthread-nocap",
        ("--worker-class", "gthread"),
        NO_CAP,
    ),
    Candidate(
        "gevent, 2 workers", "gevent", ("--worker-class", "gevent", "--worker-connections", "200")
    ),
)


@dataclass
class HangingCall:
    fault: str
    status: int = 0
    seconds: float = 0.0
    error: str = ""


@dataclass
class IsolationResult:
    candidate: Candidate
    alone: WrkResult
    hanging: WrkResult
    calls: list[HangingCall]

    def to_json(self) -> dict[str, Any]:
        return {
            "candidate": self.candidate.name,
            "key": self.candidate.key,
            "gunicorn_options": [*CONFIG, *self.candidate.options],
            "env": self.candidate.env,
            "alone": self.alone.to_json(),
            "hanging": self.hanging.to_json(),
            "hanging_calls": [vars(c) for c in self.calls],
        }


def _hook_call(fhir_server: str) -> bytes:
    return json.dumps(
        {
            "hook": "patient-view",
            "hookInstance": str(uuid.uuid4()),
            "fhirServer": fhir_server,
            "context": {"patientId": PATIENT_ID, "userId": "Practitioner/bench"},
        }
    ).encode()


def _hang(port: int, call: HangingCall, fhir_server: str) -> None:
    started = time.perf_counter()
    connection = http.client.HTTPConnection(HOST, port, timeout=120)
    try:
        connection.request(
            "POST", PATH, _hook_call(fhir_server), {"Content-Type": "application/json"}
        )
        response = connection.getresponse()
        response.read()
        call.status = response.status
    except OSError as exc:
        call.error = type(exc).__name__
    finally:
        connection.close()
        call.seconds = time.perf_counter() - started


def start_hanging_calls(
    port: int, faults: FaultyFhirServer
) -> tuple[list[HangingCall], list[threading.Thread]]:
    calls = [HangingCall("blackhole") for _ in range(SILENT_CALLS)]
    calls += [HangingCall("drip") for _ in range(DRIP_CALLS)]
    threads = [
        threading.Thread(target=_hang, args=(port, c, faults.url(c.fault)), daemon=True)
        for c in calls
    ]
    for thread in threads:
        thread.start()
    return calls, threads


def measure_candidate(
    candidate: Candidate,
    body: bytes,
    faults: FaultyFhirServer,
    log_dir: Path,
    *,
    seconds: float,
    connections: int,
) -> IsolationResult:
    settings = GunicornSettings((*CONFIG, *candidate.options, "--workers", "2"), candidate.env, "")
    server: RunningServer
    with service_server(settings, log_dir, name=f"isolation-{candidate.key}") as server:
        wait_until_serving(server, body)
        url = f"http://{HOST}:{server.port}{PATH}"
        alone = run_wrk(url, body, duration_s=seconds, connections=connections)
        calls, threads = start_hanging_calls(server.port, faults)
        time.sleep(1.0)  # the hanging calls reach their FHIR servers
        hanging = run_wrk(url, body, duration_s=seconds, connections=connections)
        for thread in threads:
            thread.join(timeout=120)
    return IsolationResult(candidate, alone, hanging, calls)


def measure(
    body: bytes,
    log_dir: Path,
    *,
    seconds: float = 5.0,
    connections: int = 4,
    keys: Sequence[str] | None = None,
) -> list[IsolationResult]:
    if seconds + 1.5 >= FETCH_DEADLINE_S:
        raise ValueError(f"the run must end within the fetch deadline ({FETCH_DEADLINE_S} s)")
    results = []
    # read_timeout 1 s: the drip sends a byte every 0.25 s, well inside the service's own.
    with FaultyFhirServer(read_timeout=1.0) as faults:
        for candidate in CANDIDATES:
            if keys and candidate.key not in keys:
                continue
            print(f"[isolation] {candidate.name}", file=sys.stderr, flush=True)
            results.append(
                measure_candidate(
                    candidate, body, faults, log_dir, seconds=seconds, connections=connections
                )
            )
            faults.wait_idle(15)
    return results


def render(results: Sequence[dict[str, Any]]) -> list[str]:
    """A Markdown table of ``IsolationResult.to_json()`` rows; ratios against the first row's
    throughput alone (the sync workers the image ran before)."""
    if not results:
        return []
    reference = results[0]["alone"]["throughput_rps"] or 1.0
    lines = [
        f"Worker models: prefetched calls under wrk, alone and while {SILENT_CALLS} calls hang on "
        f"a silent FHIR server and {DRIP_CALLS} on a drip-feeding one",
        "",
        "| worker model | alone: /s, p99 | while 8 hang: /s, p99 | kept | ÷ first row alone "
        "| the 8 calls: status × count, longest |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        alone, hanging = r["alone"], r["hanging"]
        statuses: dict[str, int] = {}
        for call in r["hanging_calls"]:
            label = str(call["status"]) if call["status"] else call["error"] or "?"
            statuses[label] = statuses.get(label, 0) + 1
        outcome = ", ".join(f"{s} × {n}" for s, n in sorted(statuses.items()))
        longest = max((c["seconds"] for c in r["hanging_calls"]), default=0.0)
        kept = hanging["throughput_rps"] / alone["throughput_rps"] if alone["throughput_rps"] else 0
        p99 = f"{hanging['p99_ms']:.1f} ms" if hanging["throughput_rps"] else "none answered"
        lines.append(
            f"| {r['candidate']} "
            f"| {alone['throughput_rps']:,.0f}, {alone['p99_ms']:.1f} ms "
            f"| {hanging['throughput_rps']:,.0f}, {p99} "
            f"| {kept:.0%} | {hanging['throughput_rps'] / reference:.2f}× "
            f"| {outcome}; {longest:.1f} s |"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.isolation", description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--candidates", default="", help="comma-separated keys (default: all)")
    parser.add_argument(
        "--request",
        type=Path,
        default=Path("tests/rules/requests/seed_osteopenia_frax_hip_02.json"),
        help="the prefetched call wrk sends",
    )
    args = parser.parse_args(argv)
    keys = [k for k in args.candidates.split(",") if k] or None
    with tempfile.TemporaryDirectory(prefix="isolation-") as logs:
        results = measure(
            args.request.read_bytes(),
            Path(logs),
            seconds=args.seconds,
            connections=args.connections,
            keys=keys,
        )
    print("\n".join(render([r.to_json() for r in results])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
