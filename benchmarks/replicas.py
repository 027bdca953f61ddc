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

import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import requests

from benchmarks.workloads import generated_workload
from tests.support.net import free_port
from tests.support.postgres import PostgresServer
from tests.support.replicas import HAPROXY_CONFIG, Haproxy, deployment

SERVICE_PATH = "/cds-services/osteopenia-management"
OBSERVATIONS = 100  # a typical chart's size (README, Performance)

_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local file = assert(io.open(os.getenv("WRK_BODY_FILE"), "rb"))
wrk.body = file:read("*a")
file:close()
"""
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


@dataclass(frozen=True)
class Row:
    setup: str
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int  # non-2xx answers and socket errors

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if match is None:
        raise ValueError(f"wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(setup: str, output: str) -> Row:
    """The figures of ``wrk --latency``'s text report."""
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.M)
    if rate is None or p50 is None or p99 is None:
        raise RuntimeError(f"wrk printed no result:\n{output[-2000:]}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    errors = int(non_2xx.group(1)) if non_2xx else 0
    errors += sum(int(n) for n in sockets.groups()) if sockets else 0
    return Row(setup, float(rate.group(1)), _ms(p50.group(1)), _ms(p99.group(1)), errors)


def wrk(setup: str, url: str, body: bytes, *, seconds: float, connections: int) -> Row:
    binary = shutil.which("wrk")
    if binary is None:
        raise RuntimeError("wrk is not installed (Debian package wrk)")
    with tempfile.TemporaryDirectory(prefix="wrk-") as work:
        script, body_file = Path(work) / "post.lua", Path(work) / "body.json"
        script.write_text(_LUA)
        body_file.write_bytes(body)
        result = subprocess.run(
            [
                binary,
                "--threads",
                "2",
                "--connections",
                str(connections),
                "--duration",
                f"{max(1, round(seconds))}s",
                "--timeout",
                "30s",
                "--latency",
                "--script",
                str(script),
                url,
            ],
            env={**os.environ, "WRK_BODY_FILE": str(body_file)},
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=True,
        )
    return parse_wrk(setup, result.stdout)


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
                        rows.append(wrk(setup, url, body, seconds=seconds, connections=connections))
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
