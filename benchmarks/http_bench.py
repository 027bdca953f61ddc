"""Throughput and latency over HTTP: the service beside the baseline and HealthChain.

Each server runs in its own processes (2 workers); the load generator runs in others and
sends the same request bytes to all three. Sizes are prefetches of 20, 105 and 297
Observations (the largest Synthea patient, unfiltered, cut to the relevant Observations
first and then the most recent others).
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.loadgen import LoadResult, build_request, run_load
from benchmarks.servers import HOST, RunningServer
from benchmarks.workloads import SERVICE_ID, Workload

PATH = f"/cds-services/{SERVICE_ID}"


@dataclass(frozen=True)
class HttpResult:
    server: str
    workload: Workload
    load: LoadResult
    cards: int

    def to_json(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "workload": self.workload.name,
            "observations": self.workload.observations,
            "resources": self.workload.resources,
            "request_bytes": len(self.workload.body),
            "cards": self.cards,
            **self.load.to_json(),
        }


def _post_once(port: int, body: bytes, timeout: float = 30) -> tuple[int, bytes]:
    payload = build_request(HOST, port, PATH, body)
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.sendall(payload.replace(b"Connection: keep-alive", b"Connection: close"))
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), rest


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
    with start() as server:
        for workload in workloads:
            answer = wait_until_serving(server, workload.body)
            load = run_load(
                HOST,
                server.port,
                PATH,
                workload.body,
                clients=clients,
                duration_s=duration_s,
                warmup_s=warmup_s,
            )
            yield HttpResult(name, workload, load, len(answer.get("cards", [])))


def log_dir(results_dir: Path) -> Path:
    path = results_dir / "logs"
    path.mkdir(parents=True, exist_ok=True)
    return path
