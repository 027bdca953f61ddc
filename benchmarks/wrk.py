"""HTTP load with wrk (Debian's ``wrk``): a C load generator, so the server is what is measured.

wrk sends the same POST over ``connections`` kept-alive connections (reopened when the server
closes them, as gunicorn's sync workers do after every answer) for ``duration_s`` seconds; a
Lua ``done`` hook prints its counters and latency percentiles as one JSON line, parsed here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

WRK_MARKER = "WRK_JSON "

# The body is read from a file named by the environment (wrk's Lua has no other way in
# before the first request is built); ``done`` runs once, with every thread's counters.
LUA_SCRIPT = r"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local file = assert(io.open(os.getenv("WRK_BODY_FILE"), "rb"))
wrk.body = file:read("*a")
file:close()

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect_errors":%d,'
    .. '"read_errors":%d,"write_errors":%d,"status_errors":%d,"timeouts":%d,'
    .. '"mean_us":%.1f,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency.mean, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max))
end
"""


class WrkUnavailable(RuntimeError):
    pass


@dataclass(frozen=True)
class WrkResult:
    requests: int  # completed, whatever the status
    seconds: float
    errors: int  # non-2xx/3xx answers, broken connections, timeouts
    timeouts: int
    mean_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float

    @property
    def ok_requests(self) -> int:
        return max(0, self.requests - self.errors)

    @property
    def throughput(self) -> float:
        """Successful answers per second."""
        return self.ok_requests / self.seconds if self.seconds else 0.0

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "throughput_rps": self.throughput}


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise WrkUnavailable("wrk is not installed (tests/support/ensure_wrk.sh installs it)")
    return found


def parse_output(stdout: str) -> WrkResult:
    for line in stdout.splitlines():
        if line.startswith(WRK_MARKER):
            raw = json.loads(line[len(WRK_MARKER) :])
            break
    else:
        raise RuntimeError(f"wrk printed no result:\n{stdout[-2000:]}")
    errors = (
        raw["connect_errors"]
        + raw["read_errors"]
        + raw["write_errors"]
        + raw["status_errors"]
        + raw["timeouts"]
    )
    return WrkResult(
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        errors=errors,
        timeouts=raw["timeouts"],
        mean_ms=raw["mean_us"] / 1000,
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
    )


def run_wrk(
    url: str,
    body: bytes,
    *,
    duration_s: float,
    connections: int = 4,
    threads: int = 2,
    timeout_s: float = 30.0,
) -> WrkResult:
    """POST ``body`` to ``url`` as fast as the server answers, for ``duration_s``."""
    binary = wrk_binary()
    with tempfile.TemporaryDirectory(prefix="wrk-") as work:
        script = Path(work) / "post.lua"
        script.write_text(LUA_SCRIPT)
        body_file = Path(work) / "body.json"
        body_file.write_bytes(body)
        env = {**os.environ, "WRK_BODY_FILE": str(body_file)}
        command = [
            binary,
            f"--threads={min(threads, connections)}",
            f"--connections={connections}",
            f"--duration={max(1, round(duration_s))}s",
            f"--timeout={max(1, round(timeout_s))}s",
            f"--script={script}",
            url,
        ]
        result = subprocess.run(
            command,
            env=env,
            capture_output=True,
            text=True,
            timeout=duration_s + timeout_s + 60,
            check=False,
        )
    if result.returncode != 0:
        raise RuntimeError(f"wrk failed ({result.returncode}): {result.stderr[-2000:]}")
    return parse_output(result.stdout)
