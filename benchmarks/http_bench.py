"""Throughput and latency over HTTP: the service beside the baseline and HealthChain.

Each server runs in its own processes (2 workers); wrk (benchmarks/wrk.py) sends the same
request bytes to all of them. Sizes are prefetches of 20, 105 and 297
Observations (the largest Synthea patient, unfiltered, cut to the relevant Observations
first and then the most recent others).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.servers import HOST, RunningServer
from benchmarks.workloads import SERVICE_ID, Workload
from benchmarks.wrk import WrkResult, run_wrk

PATH = f"/cds-services/{SERVICE_ID}"


@dataclass(frozen=True)
class HttpResult:
    server: str
    workload: Workload
    load: WrkResult
    cards: int

    def to_json(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "workload": self.workload.name,
            "observations": self.workload.observations,
            "resources": self.workload.resources,
            "request_bytes": len(self.workload.body),
            "cards": self.cards,
            "requests": self.load.ok_requests,
            "errors": self.load.errors,
            "seconds": self.load.seconds,
            "throughput_rps": self.load.throughput,
            "latency": {
                "n": self.load.requests,
                "mean_ms": self.load.mean_ms,
                "median_ms": self.load.p50_ms,
                "p90_ms": self.load.p90_ms,
                "p99_ms": self.load.p99_ms,
                "max_ms": self.load.max_ms,
            },
        }


def _post_once(port: int, body: bytes, timeout: float = 30) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.request("POST", PATH, body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def wait_until_serving(server: RunningServer, body: bytes, timeout: float = 90) -> dict[str, Any]:
    """Post the real request until every worker is up and it answers 200; its JSON answer."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            status, answer = _post_once(server.port, body)
            if status == 200:
                for _ in range(8):  # reach both workers, load lazy imports
                    _post_once(server.port, body)
                return json.loads(answer)
            last = f"HTTP {status}: {answer[:300]!r}"
        except (OSError, ValueError) as exc:
            last = repr(exc)
        time.sleep(0.2)
    raise RuntimeError(f"{server.name} did not answer 200: {last}\n{server.log_tail()}")


def measure_server(
    name: str,
    start: Callable[[], contextlib.AbstractContextManager[RunningServer]],
    workloads: Sequence[Workload],
    *,
    clients: int,
    duration_s: float,
    warmup_s: float,
) -> Iterator[HttpResult]:
    url = f"http://{HOST}:{{port}}{PATH}"
    with start() as server:
        for workload in workloads:
            answer = wait_until_serving(server, workload.body)
            target = url.format(port=server.port)
            if warmup_s >= 1:
                run_wrk(target, workload.body, duration_s=warmup_s, connections=clients)
            load = run_wrk(target, workload.body, duration_s=duration_s, connections=clients)
            yield HttpResult(name, workload, load, len(answer.get("cards", [])))


def log_dir(results_dir: Path) -> Path:
    path = results_dir / "logs"
    path.mkdir(parents=True, exist_ok=True)
    return path
