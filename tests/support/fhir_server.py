"""Start the project's test FHIR R4 server (tests/fhir_server/server.mjs) from Python.

The server is Medplum's FHIR engine with its in-memory repository behind a small Node HTTP
wrapper; it listens on 127.0.0.1 on a free port. Bundles given at start-up are loaded keeping
the ids they carry, so a Synthea patient keeps the id of its Patient resource.

    with start_fhir_server([path]) as server:
        requests.get(f"{server.base_url}/Observation", params={"patient": server.patient_ids[0]})

Used by the tests (see tests/support/fhir_fixtures.py) and by the benchmarks.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import requests

from tests.support import processes

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVER_DIR = REPO_ROOT / "tests" / "fhir_server"
SERVER_SCRIPT = SERVER_DIR / "server.mjs"
SYNTHEA_FIXTURES = REPO_ROOT / "tests" / "fixtures" / "synthea"

# Start-up is about a second (indexing the FHIR definitions plus loading); a loaded CI
# machine can be several times slower, so the bound is generous but finite.
DEFAULT_START_TIMEOUT = 60.0


class FhirServerUnavailable(RuntimeError):
    """Node is not installed, so the test FHIR server cannot run here."""


class FhirServerError(RuntimeError):
    """The test FHIR server did not start, or an admin call failed."""


@dataclass
class RunningFhirServer:
    base_url: str  # FHIR base, e.g. http://127.0.0.1:41234/fhir
    port: int
    patient_ids: tuple[str, ...]
    process: subprocess.Popen[bytes] = field(repr=False)
    _stderr: IO[bytes] = field(repr=False)

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/admin"

    def load(self, bundle_path: Path) -> list[str]:
        """Load a transaction/batch Bundle file (ids kept); returns the Patient ids in it."""
        response = requests.post(
            f"{self.admin_url}/load", json={"path": str(Path(bundle_path).resolve())}, timeout=60
        )
        if response.status_code != 200:
            raise FhirServerError(f"loading {bundle_path} failed: {response.text[:500]}")
        patients: list[str] = response.json()["patients"]
        self.patient_ids = (*self.patient_ids, *patients)
        return patients

    def reset(self) -> None:
        """Drop every resource."""
        response = requests.post(f"{self.admin_url}/reset", timeout=10)
        if response.status_code != 200:
            raise FhirServerError(f"reset failed: {response.text[:500]}")
        self.patient_ids = ()

    def stderr_tail(self, limit: int = 4000) -> str:
        self._stderr.flush()
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace")[-limit:]


def node_executable() -> str | None:
    return shutil.which("node")


def _unavailable(reason: str) -> None:
    # Under pytest a missing Node is an environment gap, reported as a skip with the reason;
    # elsewhere (benchmarks) the caller decides.
    if "pytest" in sys.modules:
        import pytest

        pytest.skip(reason)
    raise FhirServerUnavailable(reason)


def _read_ready_line(stream: IO[bytes], timeout: float) -> bytes | None:
    """First line of the server's stdout, or None when it does not come within ``timeout``."""
    result: list[bytes] = []
    reader = threading.Thread(target=lambda: result.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return result[0] if result else None


def _stop(process: subprocess.Popen[bytes]) -> None:
    processes.stop(process, timeout=5)
    for stream in (process.stdout, process.stdin):
        if stream is not None:
            stream.close()


@contextlib.contextmanager
def start_fhir_server(
    bundle_paths: Sequence[Path] = (),
    *,
    page_size: int = 50,
    max_page_size: int = 1000,
    timeout: float = DEFAULT_START_TIMEOUT,
) -> Iterator[RunningFhirServer]:
    """Run the test FHIR server loaded with ``bundle_paths``; stop it on exit.

    Skips (under pytest) or raises FhirServerUnavailable only when ``node`` is missing; any
    other start-up problem (dependencies not installed, a bundle that does not load, no
    ready line within ``timeout`` seconds) raises FhirServerError with the server's stderr.
    """
    node = node_executable()
    if node is None:
        _unavailable("node is not installed: the test FHIR server (tests/fhir_server) needs it")
    assert node is not None
    if not (SERVER_DIR / "node_modules" / "@medplum" / "fhir-router").is_dir():
        raise FhirServerError(
            f"{SERVER_DIR}/node_modules is missing: run `make node` (npm ci in that folder)"
        )
    command = [
        node,
        str(SERVER_SCRIPT),
        "--port",
        "0",
        "--page-size",
        str(page_size),
        "--max-page-size",
        str(max_page_size),
    ]
    for path in bundle_paths:
        command += ["--load", str(Path(path).resolve())]

    # A file, not a pipe, so a chatty server never blocks on a full pipe; closed in `finally`.
    stderr = tempfile.TemporaryFile()  # noqa: SIM115
    process = subprocess.Popen(
        command,
        cwd=SERVER_DIR,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=stderr,
        env={**os.environ, "NODE_ENV": "test"},
    )
    try:
        assert process.stdout is not None
        line = _read_ready_line(process.stdout, timeout)
        if not line:
            status = process.poll()
            state = f"exited with {status}" if status is not None else f"silent for {timeout}s"
            stderr.seek(0)
            detail = stderr.read().decode("utf-8", "replace")[-4000:]
            raise FhirServerError(f"test FHIR server {state}: {detail}")
        ready: dict[str, Any] = json.loads(line)
        server = RunningFhirServer(
            base_url=ready["base_url"],
            port=int(ready["port"]),
            patient_ids=tuple(ready["patients"]),
            process=process,
            _stderr=stderr,
        )
        yield server
    finally:
        _stop(process)
        stderr.close()
