"""Soak: the service under gunicorn for a fixed time at a fixed request rate.

    python -m benchmarks.soak --seconds 60 [--rate 30] [--seed 1]

The service runs as the Docker image runs it (gunicorn, 2 workers, the image's settings; see
``benchmarks.servers``), on loopback with authentication off, its card log in a temporary
directory. A load generator in another process sends an open-loop stream at ``--rate``
requests per second (each request leaves at its scheduled time whether or not earlier ones
have been answered, and its latency counts from that time) with a fixed mix:

* valid: patient-view calls with full prefetch (demo patients and Synthea records),
* invalid: malformed JSON, missing context, wrong Content-Type, unknown service, wrong hook,
* fetch: calls without prefetch whose data the service fetches from the test FHIR server
  (``tests/support/fhir_server.py``, Medplum's FHIR engine; the misbehaving-server module's
  healthy mode if Node is missing);
* stalled (``--stalled SHARE``, none by default): calls whose fhirServer accepts connections
  and never answers, so each holds a worker until the fetch deadline (``--deadline``).

It prints requests, answers by status per kind, errors (unexpected statuses, timeouts),
p50/p99 latency, and each worker's resident memory after warm-up and at the end: growth must
stay under 10 % (PASS/FAIL). Exit status 1 on FAIL or on any error.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import random
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import psutil
import requests

from benchmarks.servers import HOST, RunningServer, docker_gunicorn_settings, service_server

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = REPO_ROOT / "tests" / "fixtures"
SERVICE_ID = "osteopenia-management"
MEMORY_GROWTH_LIMIT = 0.10
WARM_UP_FRACTION = 0.2  # RSS baseline: after this share of the run (caches and pools filled)
MIX = (("valid", 0.6), ("invalid", 0.2), ("fetch", 0.2))
REQUEST_TIMEOUT = 30.0
HOOK_INSTANCE = b"00000000-0000-4000-8000-000000000000"  # replaced per request
EXPECTED = {"valid": {200}, "invalid": {400, 404, 415}, "fetch": {200}, "stalled": {412}}


def request_mix(stalled: float) -> tuple[tuple[str, float], ...]:
    """The base mix, with ``stalled`` of all requests taken from it proportionally."""
    scaled = tuple((kind, weight * (1 - stalled)) for kind, weight in MIX)
    return (*scaled, ("stalled", stalled)) if stalled > 0 else scaled


# -- requests -------------------------------------------------------------------------------


def _valid_requests() -> list[bytes]:
    from tests.openapi.corpus import fixture_files, hook_request_for

    return [
        json.dumps({**hook_request_for(path), "hookInstance": HOOK_INSTANCE.decode()}).encode()
        for path in fixture_files()
    ]


def _invalid_requests() -> list[tuple[str, bytes, str]]:
    """(path, body, Content-Type) of requests the service must refuse with a 4xx."""
    service = f"/cds-services/{SERVICE_ID}"
    no_context = {"hook": "patient-view", "hookInstance": str(uuid.uuid4())}
    wrong_hook = {**no_context, "hook": "order-sign", "context": {"patientId": "p"}}
    return [
        (service, b'{"hook": "patient-view", "context": ', "application/json"),
        (service, json.dumps(no_context).encode(), "application/json"),
        (service, json.dumps(wrong_hook).encode(), "application/json"),
        (service, b"hook=patient-view", "application/x-www-form-urlencoded"),
        ("/cds-services/no-such-service", json.dumps(no_context).encode(), "application/json"),
        (f"{service}/feedback", b'{"feedback": []}', "application/json"),
    ]


def _fetch_requests(fhir_base: str, patient_ids: list[str]) -> list[bytes]:
    return [
        json.dumps(
            {
                "hook": "patient-view",
                "hookInstance": HOOK_INSTANCE.decode(),
                "fhirServer": fhir_base,
                "context": {"patientId": patient_id, "userId": "Practitioner/soak"},
            }
        ).encode()
        for patient_id in patient_ids
    ]


# -- load generator (its own process) --------------------------------------------------------


@dataclass
class Sample:
    kind: str
    status: int  # 0: no answer (timeout, connection error)
    latency: float  # seconds from the scheduled send time to the full answer
    error: str = ""


def _generate_load(
    port: int,
    seconds: float,
    rate: float,
    seed: int,
    fhir_base: str,
    patient_ids: list[str],
    stalled_base: str,
    mix: tuple[tuple[str, float], ...],
    out: Any,
) -> None:
    rng = random.Random(seed)
    valid = _valid_requests()
    invalid = _invalid_requests()
    fetch = _fetch_requests(fhir_base, patient_ids)
    stalled = _fetch_requests(stalled_base, ["stalled-patient"])
    base = f"http://{HOST}:{port}"
    kinds = [kind for kind, _ in mix]
    weights = [weight for _, weight in mix]
    local = threading.local()
    samples: list[Sample] = []
    lock = threading.Lock()

    def session() -> requests.Session:
        if not hasattr(local, "session"):
            local.session = requests.Session()
            local.session.trust_env = False
        return local.session

    def send(kind: str, path: str, body: bytes, content_type: str, scheduled: float) -> None:
        # Every call is a new hook invocation, as from an EHR: a fresh hookInstance.
        body = body.replace(HOOK_INSTANCE, str(uuid.uuid4()).encode())
        try:
            response = session().post(
                base + path,
                data=body,
                headers={"Content-Type": content_type},
                timeout=REQUEST_TIMEOUT,
            )
            sample = Sample(kind, response.status_code, time.monotonic() - scheduled)
            if response.status_code >= 400:
                try:
                    response.json()
                except ValueError:
                    sample.error = "error body is not JSON"
        except requests.RequestException as exc:
            sample = Sample(kind, 0, time.monotonic() - scheduled, type(exc).__name__)
        with lock:
            samples.append(sample)

    total = int(seconds * rate)
    start = time.monotonic() + 0.2
    # Enough threads that a slow answer never delays the next send (open loop).
    with ThreadPoolExecutor(max_workers=64) as pool:
        for index in range(total):
            kind = rng.choices(kinds, weights)[0]
            if kind == "valid":
                path, body, content_type = (
                    f"/cds-services/{SERVICE_ID}",
                    rng.choice(valid),
                    "application/json",
                )
            elif kind == "fetch":
                path, body, content_type = (
                    f"/cds-services/{SERVICE_ID}",
                    rng.choice(fetch),
                    "application/json",
                )
            elif kind == "stalled":
                path, body, content_type = (
                    f"/cds-services/{SERVICE_ID}",
                    stalled[0],
                    "application/json",
                )
            else:
                path, body, content_type = rng.choice(invalid)
            scheduled = start + index / rate
            delay = scheduled - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            pool.submit(send, kind, path, body, content_type, scheduled)
    out.put([s.__dict__ for s in samples])


# -- the service's workers ------------------------------------------------------------------


@dataclass
class WorkerMemory:
    pid: int
    boot: int
    warm: int | None = None
    end: int | None = None
    peak: int = 0

    @property
    def growth(self) -> float | None:
        if self.warm is None or self.end is None:
            return None
        return (self.end - self.warm) / self.warm


@dataclass
class MemoryWatch:
    workers: dict[int, WorkerMemory] = field(default_factory=dict)
    replaced: int = 0  # workers that disappeared (crash or restart) during the run

    def sample(self, master: psutil.Process, phase: str) -> None:
        try:
            children = master.children()
        except psutil.Error:
            return
        alive = set()
        for child in children:
            try:
                rss = child.memory_info().rss
            except psutil.Error:
                continue
            alive.add(child.pid)
            worker = self.workers.setdefault(child.pid, WorkerMemory(child.pid, boot=rss))
            worker.peak = max(worker.peak, rss)
            if phase == "warm" and worker.warm is None:
                worker.warm = rss
            if phase == "end":
                worker.end = rss
        self.replaced = len(set(self.workers) - alive)


def _watch_memory(
    server: RunningServer, seconds: float, watch: MemoryWatch, stop: threading.Event
) -> None:
    master = psutil.Process(server.process.pid)
    started = time.monotonic()
    warm_at = started + seconds * WARM_UP_FRACTION
    warm_taken = False
    while not stop.wait(0.5):
        now = time.monotonic()
        phase = "run"
        if not warm_taken and now >= warm_at:
            phase, warm_taken = "warm", True
        watch.sample(master, phase)


# -- FHIR server for the fall-back fetch ----------------------------------------------------


@contextlib.contextmanager
def fhir_server() -> Iterator[tuple[str, list[str], str]]:
    """(base URL, patient ids, description) of a FHIR server loaded with the fixtures."""
    try:
        from tests.support.fhir_server import FhirServerUnavailable, start_fhir_server
    except ImportError:  # pragma: no cover - the launcher is part of the repository
        FhirServerUnavailable = RuntimeError
        start_fhir_server = None
    bundles = (
        sorted((FIXTURES / "demo").glob("*.json"))
        + sorted((FIXTURES / "synthea").glob("*.json"))[:2]
    )
    if start_fhir_server is not None:
        try:
            with start_fhir_server(bundles) as server:
                yield server.base_url, list(server.patient_ids), "test FHIR server (Medplum)"
                return
        except FhirServerUnavailable:
            pass
    from tests.faults.fault_server import PATIENT_ID, FaultyFhirServer

    with FaultyFhirServer(read_timeout=5.0) as server:
        yield server.url("healthy"), [PATIENT_ID], "local FHIR stub (Node missing)"


# -- report ---------------------------------------------------------------------------------


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[rank]


def _mb(value: int | None) -> str:
    return "-" if value is None else f"{value / 1_048_576:.1f} MB"


def report(
    samples: list[Sample],
    watch: MemoryWatch,
    *,
    seconds: float,
    rate: float,
    fhir: str,
    mix: tuple[tuple[str, float], ...],
    workers: str = "2 workers",
) -> bool:
    by_kind: dict[str, Counter[int]] = {kind: Counter() for kind, _ in mix}
    errors: Counter[str] = Counter()
    for sample in samples:
        by_kind[sample.kind][sample.status] += 1
        if sample.status == 0:
            errors[f"{sample.kind}: no answer ({sample.error})"] += 1
        elif sample.status not in EXPECTED[sample.kind]:
            errors[f"{sample.kind}: unexpected HTTP {sample.status}"] += 1
        elif sample.error:
            errors[f"{sample.kind}: {sample.error}"] += 1
    latencies = [s.latency * 1000 for s in samples if s.status]
    print(f"soak: {seconds:.0f} s at {rate:g} requests/s, gunicorn {workers}, auth off; {fhir}")
    print(f"requests: {len(samples)} (scheduled {int(seconds * rate)})")
    for kind, statuses in by_kind.items():
        shown = ", ".join(f"{s or 'no answer'}: {n}" for s, n in sorted(statuses.items()))
        print(f"  {kind:8s} {sum(statuses.values()):6d}   {shown}")
    statuses = Counter(s.status for s in samples)
    print(
        "by status: " + ", ".join(f"{s or 'no answer'}: {n}" for s, n in sorted(statuses.items()))
    )
    print(f"errors: {sum(errors.values())}" + "".join(f"\n  {k}: {v}" for k, v in errors.items()))
    print(
        f"latency (from scheduled send): p50 {_percentile(latencies, 0.50):.1f} ms, "
        f"p99 {_percentile(latencies, 0.99):.1f} ms, max {max(latencies, default=0):.1f} ms"
    )
    for kind, _ in mix:
        kind_latencies = [s.latency * 1000 for s in samples if s.kind == kind and s.status]
        print(
            f"  {kind:8s} p50 {_percentile(kind_latencies, 0.50):7.1f} ms   "
            f"p99 {_percentile(kind_latencies, 0.99):7.1f} ms"
        )
    memory_ok = bool(watch.workers) and watch.replaced == 0
    for worker in watch.workers.values():
        growth = worker.growth
        ok = growth is not None and growth < MEMORY_GROWTH_LIMIT
        memory_ok = memory_ok and ok
        shown = "-" if growth is None else f"{growth * 100:+.1f} %"
        print(
            f"worker {worker.pid}: RSS at boot {_mb(worker.boot)}, "
            f"after warm-up {_mb(worker.warm)}, at end {_mb(worker.end)}, "
            f"peak {_mb(worker.peak)}; growth {shown}"
        )
    if watch.replaced:
        print(f"workers replaced during the run (crash or restart): {watch.replaced}")
    verdict = "PASS" if memory_ok else "FAIL"
    print(f"memory growth after warm-up < {MEMORY_GROWTH_LIMIT:.0%}: {verdict}")
    return memory_ok and not errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=30.0, help="requests per second")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--stalled",
        type=float,
        default=0.0,
        help="share of fall-back fetches to a FHIR server that accepts and never answers",
    )
    parser.add_argument(
        "--deadline", type=float, default=None, help="CDS_FETCH_DEADLINE_SECONDS (image default)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="gunicorn --threads per worker (gthread); default: as the image runs",
    )
    args = parser.parse_args(argv)
    mix = request_mix(args.stalled)
    from tests.faults.fault_server import FaultyFhirServer

    with (
        fhir_server() as (fhir_base, patient_ids, fhir_description),
        tempfile.TemporaryDirectory(prefix="soak-") as logs,
        FaultyFhirServer(read_timeout=5.0) as faulty,
    ):
        settings = docker_gunicorn_settings()
        stalled_base = faulty.url("blackhole")
        # The fall-back fetch may only call the allow-listed FHIR servers (auth is off).
        env = {**settings.env, "CDS_FHIR_SERVERS": f"{fhir_base},{stalled_base}"}
        if args.deadline is not None:
            env["CDS_FETCH_DEADLINE_SECONDS"] = str(args.deadline)
        options = settings.args
        if args.threads is not None:
            options = (*options, "--threads", str(args.threads))
        settings = replace(settings, args=options, env=env)
        with service_server(settings, Path(logs), name="soak") as server:
            health = requests.get(f"http://{HOST}:{server.port}/readyz", timeout=10)
            health.raise_for_status()
            watch = MemoryWatch()
            watch.sample(psutil.Process(server.process.pid), "boot")
            stop = threading.Event()
            watcher = threading.Thread(
                target=_watch_memory, args=(server, args.seconds, watch, stop), daemon=True
            )
            context = multiprocessing.get_context("spawn")
            queue = context.Queue()
            generator = context.Process(
                target=_generate_load,
                args=(
                    server.port,
                    args.seconds,
                    args.rate,
                    args.seed,
                    fhir_base,
                    patient_ids,
                    stalled_base,
                    mix,
                    queue,
                ),
            )
            watcher.start()
            generator.start()
            raw = queue.get(timeout=args.seconds + REQUEST_TIMEOUT + 120)
            generator.join(timeout=30)
            stop.set()
            watcher.join(timeout=5)
            watch.sample(psutil.Process(server.process.pid), "end")
            if server.process.poll() is not None:
                print(server.log_tail())
    samples = [Sample(**item) for item in raw]
    ok = report(
        samples,
        watch,
        seconds=args.seconds,
        rate=args.rate,
        fhir=fhir_description,
        mix=mix,
        workers=f"2 workers x {args.threads} threads" if args.threads else "2 workers",
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
