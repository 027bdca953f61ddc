"""`make bench`: run every benchmark, print one table, write the raw results.

    python -m benchmarks [--quick] [--http-seconds 8] [--clients 4] [--skip-http]

Raw results: benchmarks/results/<timestamp>.json (machine, date, versions, every sample
summary); profiles and server logs beside it in benchmarks/results/<timestamp>/.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks import isolation, population, replicas
from benchmarks import workloads as wl
from benchmarks.fallback import FallbackResult, measure_fallback
from benchmarks.http_bench import HttpResult, log_dir, measure_server
from benchmarks.inprocess import InProcessResult, make_app, measure_workload, silent_rules_file
from benchmarks.profiling import ProfileResult, profile_calls
from benchmarks.report import render
from benchmarks.servers import (
    baseline_server,
    docker_gunicorn_settings,
    healthchain_available,
    healthchain_server,
    service_server,
    sync_workers,
    tmpfs_root,
)
from tests.support.fhir_server import SERVER_DIR, FhirServerUnavailable, start_fhir_server

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"


@dataclass
class Durations:
    inprocess_s: float
    fallback_s: float
    http_s: float
    http_warmup_s: float
    profile_s: float


@dataclass
class Run:
    started: datetime
    durations: Durations
    clients: int
    inprocess: list[InProcessResult] = field(default_factory=list)
    fallback: list[FallbackResult] = field(default_factory=list)
    http: list[HttpResult] = field(default_factory=list)
    profiles: list[ProfileResult] = field(default_factory=list)
    isolation: list[dict[str, Any]] = field(default_factory=list)
    gunicorn: dict[str, Any] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    load_average: dict[str, list[float]] = field(default_factory=dict)


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    memory = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{kib / 1024 / 1024:.1f} GiB"
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory": memory,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
    }


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _command_output(command: Sequence[str], cwd: Path | None = None) -> str:
    try:
        result = subprocess.run(
            command, cwd=cwd, capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return result.stdout.strip() or "unknown"


def versions() -> dict[str, str]:
    healthchain_python = REPO_ROOT / "benchmarks" / ".venv-healthchain" / "bin" / "python"
    healthchain = "not installed"
    if healthchain_python.is_file():
        healthchain = _command_output(
            [
                str(healthchain_python),
                "-c",
                "from importlib.metadata import version as v; "
                "print(' '.join(f'{p}={v(p)}' for p in "
                "('healthchain', 'fastapi', 'pydantic', 'uvicorn', 'uvloop', 'httptools')))",
            ]
        )
    medplum = "unknown"
    with contextlib.suppress(OSError, ValueError, KeyError):
        package = SERVER_DIR / "node_modules" / "@medplum" / "fhir-router" / "package.json"
        medplum = json.loads(package.read_text())["version"]
    return {
        "osteopenia-cds": _version("osteopenia-cds"),
        "git_commit": _command_output(["git", "rev-parse", "--short", "HEAD"], REPO_ROOT),
        "flask": _version("flask"),
        "werkzeug": _version("werkzeug"),
        "gunicorn": _version("gunicorn"),
        "fhir.resources": _version("fhir.resources"),
        "pyinstrument": _version("pyinstrument"),
        "healthchain_env": healthchain,
        "node": _command_output(["node", "--version"]),
        "@medplum/fhir-router": medplum,
    }


def _load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def _say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run_inprocess_and_fallback(run: Run, run_dir: Path) -> dict[str, wl.Workload]:
    """In-process, fall-back fetch and profiles; returns the HTTP workloads (built from the
    same FHIR server)."""
    generated = [wl.generated_workload(n) for n in wl.GENERATED_SIZES]
    http_workloads: dict[str, wl.Workload] = {}
    bundles = [wl.TYPICAL_BUNDLE, wl.LARGEST_BUNDLE]
    with start_fhir_server(bundles) as fhir, tempfile.TemporaryDirectory() as data_dir:
        typical_id, largest_id = fhir.patient_ids
        _say("building requests from the test FHIR server")
        typical = wl.synthea_workload(
            "typical: Synthea, discovery prefetch",
            fhir,
            typical_id,
            wl.TYPICAL_BUNDLE,
            alive=True,
        )
        largest = wl.synthea_workload(
            "largest Synthea, unfiltered prefetch",
            fhir,
            largest_id,
            wl.LARGEST_BUNDLE,
            unfiltered=True,
        )
        for count in wl.HTTP_OBSERVATION_COUNTS:
            http_workloads[str(count)] = wl.synthea_workload(
                f"{count} Observations, discovery prefetch",
                fhir,
                largest_id,
                wl.LARGEST_BUNDLE,
                observation_limit=count,
            )
        app = make_app(Path(data_dir))
        order_sign = wl.order_sign_workload(typical)
        for workload in [typical, order_sign, largest, *generated]:
            _say(f"in-process: {workload.name}")
            run.inprocess.append(
                measure_workload(app, workload, budget_s=run.durations.inprocess_s)
            )
        shm = tmpfs_root()
        if shm is not None:
            # The typical request again with the card log's SQLite file in memory: what is
            # left is the service's own work, without the commit's wait for the disk.
            with tempfile.TemporaryDirectory(dir=shm) as shm_dir:
                _say("in-process: typical, card log on tmpfs")
                run.inprocess.append(
                    measure_workload(
                        make_app(Path(shm_dir)),
                        typical,
                        budget_s=run.durations.inprocess_s,
                        label=f"{typical.name} [card log on tmpfs]",
                    )
                )
        with tempfile.TemporaryDirectory() as governed_dir:
            # Beside the plain typical request (its cards shown, after the per-patient snooze
            # read): the same request with every rule silent (cards logged, none returned).
            _say("in-process: typical, every rule silent")
            folder = Path(governed_dir)
            run.inprocess.append(
                measure_workload(
                    make_app(folder, silent_rules_file(folder)),
                    typical,
                    budget_s=run.durations.inprocess_s,
                    label=f"{typical.name} [every rule silent]",
                )
            )
        for name, patient_id in (("typical", typical_id), ("largest Synthea", largest_id)):
            _say(f"fall-back fetch: {name}")
            run.fallback.append(
                measure_fallback(
                    app, name, patient_id, fhir.base_url, budget_s=run.durations.fallback_s
                )
            )
        engine = app.extensions["cds_engine"]
        cases: list[tuple[str, Callable[[], Any]]] = []
        for workload in (largest, generated[-1]):
            prefetch = json.loads(workload.body)["prefetch"]

            def evaluate(w: wl.Workload = workload, p: dict[str, Any] = prefetch) -> Any:
                return engine.evaluate(p, patient_id=w.patient_id, as_of=w.as_of)

            cases.append((f"engine {workload.name}", evaluate))
        client = app.test_client()
        for workload in (typical, largest):

            def request(w: wl.Workload = workload) -> Any:
                return client.post(
                    f"/cds-services/{wl.SERVICE_ID}", data=w.body, content_type="application/json"
                )

            cases.append((f"request {workload.name}", request))
        for name, fn in cases:
            _say(f"profile: {name}")
            run.profiles.append(
                profile_calls(name, fn, budget_s=run.durations.profile_s, out_dir=run_dir)
            )
    return http_workloads


SERVICE_SYNC = "service, sync workers (before)"


def run_http(run: Run, workloads: dict[str, wl.Workload], run_dir: Path) -> None:
    settings = docker_gunicorn_settings()
    run.gunicorn = {"args": list(settings.args), "env": dict(settings.env), "from": settings.source}
    logs = log_dir(run_dir)
    ordered = [workloads[str(n)] for n in wl.HTTP_OBSERVATION_COUNTS]
    starters: list[tuple[str, Callable[[], Any]]] = [
        ("service", lambda: service_server(settings, logs)),
        # The worker model the image ran before gthread: what isolating slow fetches costs.
        (SERVICE_SYNC, lambda: service_server(sync_workers(settings), logs, name="service-sync")),
        ("baseline", lambda: baseline_server(settings, logs)),
    ]
    why_not = healthchain_available()
    if why_not is None:
        starters.append(("healthchain", lambda: healthchain_server(logs)))
    else:
        run.skipped["healthchain"] = why_not
    for name, start in starters:
        _say(f"HTTP: {name}")
        run.http.extend(
            measure_server(
                name,
                start,
                ordered,
                clients=run.clients,
                duration_s=run.durations.http_s,
                warmup_s=run.durations.http_warmup_s,
            )
        )


def run_isolation(run: Run, workloads: dict[str, wl.Workload], run_dir: Path) -> None:
    """Worker models under wrk while eight calls hang on their FHIR servers."""
    body = workloads[str(wl.HTTP_OBSERVATION_COUNTS[0])].body
    seconds = min(5.0, run.durations.http_s)
    _say("HTTP: worker models while calls hang on silent FHIR servers")
    results = isolation.measure(body, log_dir(run_dir), seconds=seconds, connections=run.clients)
    run.isolation = [r.to_json() for r in results]


def run_replicas(run: Run, seconds: float) -> list[replicas.Row]:
    """Two replicas behind HAProxy against one (benchmarks/replicas.py)."""
    _say("HTTP: replicas behind HAProxy")
    try:
        return replicas.run(seconds=seconds)
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        run.skipped["replicas"] = str(exc)[:300]
        return []


def run_population(run: Run, *, quick: bool) -> list[population.PopulationResult]:
    """Spark local against a single-process loop (benchmarks/population.py)."""
    sizes = [200, 1000] if quick else [2000, 20000]
    _say(f"population: {' and '.join(f'{n:,}' for n in sizes)} patients")
    try:
        return population.measure(sizes, cores=min(2, os.cpu_count() or 1))
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        run.skipped["population"] = str(exc)[:300]
        return []


def to_json(run: Run, finished: datetime) -> dict[str, Any]:
    return {
        "started": run.started.isoformat(),
        "finished": finished.isoformat(),
        "machine": machine(),
        "versions": versions(),
        "load_average": run.load_average,
        "settings": {
            "inprocess_budget_s": run.durations.inprocess_s,
            "http_seconds": run.durations.http_s,
            "http_warmup_seconds": run.durations.http_warmup_s,
            "http_clients": run.clients,
            "gunicorn": run.gunicorn,
        },
        "skipped": run.skipped,
        "inprocess": [r.to_json() for r in run.inprocess],
        "fallback": [r.to_json() for r in run.fallback],
        "http": [r.to_json() for r in run.http],
        "profiles": [p.to_json() for p in run.profiles],
        "isolation": run.isolation,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short runs, for a smoke test")
    parser.add_argument("--http-seconds", type=float, default=8.0)
    parser.add_argument("--clients", type=int, default=4, help="load generator processes")
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--skip-population", action="store_true", help="no Spark run")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.quick:
        durations = Durations(0.5, 0.5, 2.0, 0.5, 0.5)
    else:
        durations = Durations(3.0, 3.0, args.http_seconds, 1.5, 3.0)
    started = datetime.now(UTC)
    run = Run(started=started, durations=durations, clients=args.clients)
    run.load_average["start"] = _load_average()
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    run_dir = RESULTS_DIR / stamp
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        workloads = run_inprocess_and_fallback(run, run_dir)
    except FhirServerUnavailable as exc:
        print(f"cannot run the benchmarks: {exc}", file=sys.stderr)
        return 2
    if args.skip_http:
        run.skipped["http"] = "--skip-http"
    else:
        run_http(run, workloads, run_dir)
        run_isolation(run, workloads, run_dir)
    replica_rows = [] if args.skip_http else run_replicas(run, durations.http_s)
    population_rows = [] if args.skip_population else run_population(run, quick=args.quick)
    run.load_average["end"] = _load_average()
    finished = datetime.now(UTC)
    raw = to_json(run, finished)
    raw["replicas"] = [row.to_json() for row in replica_rows]
    raw["population"] = [row.to_json() for row in population_rows]
    out = RESULTS_DIR / f"{stamp}.json"
    out.write_text(json.dumps(raw, indent=2) + "\n")
    print(render(raw))
    if replica_rows:
        print("\n" + replicas.render(replica_rows))
    if population_rows:
        print("\n" + population.render(population_rows))
    print(f"\nraw results: {out.relative_to(REPO_ROOT)}  ({(finished - started).seconds} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
