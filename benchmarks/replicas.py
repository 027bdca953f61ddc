"""Throughput of two replicas behind HAProxy against one replica, on the same machine.

Three set-ups, all on one throwaway PostgreSQL (the store replicas share) with authentication
off (loopback), sent the same patient-view request by wrk (Debian's C load generator):

* one replica, called directly: the reference;
* the same replica behind HAProxy (``deploy/haproxy.cfg`` with both server lines naming it):
  the difference is the balancer's own cost;
* two replicas behind HAProxy: what scaling out gives on this machine.

Each replica is gunicorn with the image's two workers. On two cores two replicas cannot do
more than one (the CPU is already busy); the row says what the pair costs, not what it gains
on a machine with cores to spare.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import requests

from benchmarks.workloads import generated_workload
from benchmarks.wrk import WrkResult, run_wrk
from tests.support.net import free_port
from tests.support.postgres import PostgresServer
from tests.support.replicas import HAPROXY_CONFIG, Haproxy, deployment

SERVICE_PATH = "/cds-services/osteopenia-management"
OBSERVATIONS = 100  # a typical chart's size (README, Performance)


@dataclass(frozen=True)
class Row:
    setup: str
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int  # non-2xx answers and socket errors

    @classmethod
    def of(cls, setup: str, result: WrkResult) -> Row:
        return cls(
            setup, result.requests / result.seconds, result.p50_ms, result.p99_ms, result.errors
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _warm(url: str, body: bytes, calls: int = 20) -> None:
    for _ in range(calls):
        response = requests.post(
            url, data=body, headers={"Content-Type": "application/json"}, timeout=30
        )
        response.raise_for_status()


def run(*, seconds: float = 8.0, connections: int = 8) -> list[Row]:
    body = generated_workload(OBSERVATIONS).body
    postgres = PostgresServer().start()
    try:
        database_url = postgres.url(postgres.create_database())
        with tempfile.TemporaryDirectory(prefix="cds-bench-replicas-") as folder:
            root = Path(folder)
            with deployment(root, database_url) as pair:
                single = pair.replicas[0]
                port = free_port()
                address = f"127.0.0.1:{single.port}"
                in_front = Haproxy(
                    HAPROXY_CONFIG,
                    {
                        "CDS_LB_BIND": f"127.0.0.1:{port}",
                        "CDS_REPLICA_1": address,
                        "CDS_REPLICA_2": address,
                    },
                    port,
                    root / "haproxy-single.log",
                ).start()
                try:
                    setups = [
                        ("one replica, direct", f"{single.url}{SERVICE_PATH}"),
                        ("one replica behind HAProxy", f"http://127.0.0.1:{port}{SERVICE_PATH}"),
                        ("two replicas behind HAProxy", f"{pair.url}{SERVICE_PATH}"),
                    ]
                    rows = []
                    for setup, url in setups:
                        _warm(url, body)
                        time.sleep(0.5)
                        rows.append(
                            Row.of(
                                setup,
                                run_wrk(url, body, duration_s=seconds, connections=connections),
                            )
                        )
                    return rows
                finally:
                    in_front.stop()
    finally:
        postgres.stop()


def render(rows: list[Row]) -> str:
    reference = rows[0].requests_per_s
    lines = [
        f"Replicas (PostgreSQL store, auth off, {OBSERVATIONS} Observations, wrk):",
        "| set-up | requests/s | p50 | p99 | errors | ÷ one replica |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        ratio = row.requests_per_s / reference if reference else 0.0
        lines.append(
            f"| {row.setup} | {row.requests_per_s:,.0f} /s | {row.p50_ms:.1f} ms | "
            f"{row.p99_ms:.1f} ms | {row.errors} | {ratio:.2f}× |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(run()))
