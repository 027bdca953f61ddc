"""Population benchmark: patients per second and peak memory of ``osteopenia-cds population``
(Spark local mode) against a single-process loop over the same NDJSON files.

    python -m benchmarks.population [--sizes 2000 20000] [--cores 2]

The export is made of copies of the fixture patients (tests/fixtures, Synthea and eCQM) with
new ids. Both contenders run as child processes, timed end to end (reading the NDJSON and
writing the outputs included); memory is the peak of the summed RSS of the whole process
tree (driver, JVM, Python workers), sampled every 100 ms.
"""

from __future__ import annotations

import argparse
import gzip
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import IO, Any

import orjson

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = REPO_ROOT / "tests" / "fixtures"
AS_OF = date(2020, 8, 20)
TARGET_PATIENTS_PER_SECOND = 250.0


@dataclass
class PopulationResult:
    contender: str  # "spark local[N]" or "single-process loop"
    patients: int
    seconds: float
    peak_rss_mb: float
    exit_status: int

    @property
    def patients_per_second(self) -> float:
        return self.patients / self.seconds if self.seconds else 0.0

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "patients_per_second": self.patients_per_second}


# ---- the export ------------------------------------------------------------------------


def _fixture_patients(work: Path) -> list[list[dict[str, Any]]]:
    """Each fixture patient's resources (the converter's output, grouped by patient)."""
    from cds_service.population.convert import convert_to_ndjson
    from cds_service.population.records import patient_reference

    converted = work / "fixtures-ndjson"
    convert_to_ndjson([FIXTURES / "synthea", FIXTURES / "ecqm"], converted)
    by_patient: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for path in sorted(converted.glob("*.ndjson")):
        for line in path.open("rb"):
            resource = orjson.loads(line)
            if resource["resourceType"] == "Patient":
                by_patient[resource["id"]].append(resource)
            elif (pid := patient_reference(resource)) is not None:
                by_patient[pid].append(resource)
    has_patient = {
        pid for pid, rs in by_patient.items() if any(r["resourceType"] == "Patient" for r in rs)
    }
    return [by_patient[pid] for pid in sorted(has_patient)]


def generate_export(count: int, out: Path, work: Path) -> Path:
    """``count`` patients: copy ``i`` of fixture patient ``i % n`` gets ids suffixed ``-i``."""
    templates = _fixture_patients(work)
    out.mkdir(parents=True, exist_ok=True)
    sinks: dict[str, IO[bytes]] = {}
    try:
        for i in range(count):
            resources = templates[i % len(templates)]
            pid = next(r["id"] for r in resources if r["resourceType"] == "Patient")
            old_ref, new_ref = f"Patient/{pid}".encode(), f"Patient/{pid}-{i}".encode()
            for resource in resources:
                data = orjson.dumps({**resource, "id": f"{resource['id']}-{i}"})
                data = data.replace(old_ref, new_ref)
                rtype = resource["resourceType"]
                sink = sinks.get(rtype)
                if sink is None:
                    sink = sinks[rtype] = (out / f"{rtype}.ndjson").open("wb")
                sink.write(data + b"\n")
    finally:
        for sink in sinks.values():
            sink.close()
    return out


# ---- memory of a process tree ------------------------------------------------------------


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_kb(root: int) -> int:
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += _rss_kb(pid)
        stack.extend(_children(pid))
    return total


def run_measured(command: list[str], env: dict[str, str] | None = None) -> tuple[float, int, int]:
    """(seconds, peak tree RSS in kB, exit status) of a child process."""
    started = time.monotonic()
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss_kb(process.pid))
            done.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    status = process.wait()
    seconds = time.monotonic() - started
    done.set()
    sampler.join()
    return seconds, peak, status


# ---- the two contenders --------------------------------------------------------------------


def measure_spark(export: Path, patients: int, out: Path, cores: int) -> PopulationResult:
    command = [
        sys.executable, "-m", "cds_service.cli", "population", str(export),
        "--as-of", AS_OF.isoformat(), "--out", str(out), "--master", f"local[{cores}]",
    ]  # fmt: skip
    seconds, peak, status = run_measured(command)
    return PopulationResult(f"spark local[{cores}]", patients, seconds, peak / 1024, status)


def measure_loop(export: Path, patients: int) -> PopulationResult:
    command = [sys.executable, "-m", "benchmarks.population", "loop", str(export)]
    seconds, peak, status = run_measured(command)
    return PopulationResult("single-process loop", patients, seconds, peak / 1024, status)


def single_process_loop(export: Path) -> int:
    """The baseline: read every file, group lines by patient in one dict, evaluate each
    patient with the same evaluation as the Spark job. Holds the whole export in memory."""
    from cds_service.app import build_engine
    from cds_service.population.evaluate import evaluate_patient
    from cds_service.population.inputs import list_export
    from cds_service.population.records import patient_key
    from cds_service.settings import Settings

    engine = build_engine(Settings.from_env())
    groups: dict[str, list[bytes]] = defaultdict(list)
    for path in list_export(export).all:
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rb") as source:
            for line in source:
                if not line.strip():
                    continue
                try:
                    pid = patient_key(orjson.loads(line))
                except orjson.JSONDecodeError:
                    continue
                if pid is not None:
                    groups[pid].append(line)
    cards = 0
    for pid, lines in groups.items():
        try:
            result = evaluate_patient(pid, lines, as_of=AS_OF, engine=engine, medications={})
        except Exception:  # counted as a reject by the Spark job; skipped here
            continue
        cards += len(result.cards)
    return cards


def measure(sizes: list[int], cores: int) -> list[PopulationResult]:
    results = []
    with tempfile.TemporaryDirectory(prefix="population-bench-") as tmp:
        work = Path(tmp)
        for size in sizes:
            export = generate_export(size, work / f"export-{size}", work)
            results.append(measure_spark(export, size, work / f"out-{size}", cores))
            results.append(measure_loop(export, size))
    return results


def render(results: list[PopulationResult]) -> str:
    lines = [
        "| Patients | Contender | Seconds | Patients/s | Peak RSS (MB) | vs loop |",
        "|---|---|---|---|---|---|",
    ]
    loops = {r.patients: r for r in results if r.contender == "single-process loop"}
    for r in results:
        loop = loops.get(r.patients)
        ratio = r.patients_per_second / loop.patients_per_second if loop else 0.0
        contender = r.contender + (f" (exit {r.exit_status})" if r.exit_status else "")
        lines.append(
            f"| {r.patients:,} | {contender} | {r.seconds:.1f} | "
            f"{r.patients_per_second:.0f} | {r.peak_rss_mb:.0f} | {ratio:.2f}× |"
        )
    spark = sorted(
        (r for r in results if r.contender.startswith("spark")), key=lambda r: r.patients
    )
    if len(spark) >= 2:
        small, large = spark[0], spark[-1]
        lines.append(
            f"\nSpark peak memory {large.patients:,} vs {small.patients:,} patients: "
            f"{large.peak_rss_mb / small.peak_rss_mb:.2f}× for "
            f"{large.patients / small.patients:.0f}× the patients; end-to-end target "
            f"{TARGET_PATIENTS_PER_SECOND:.0f} patients/s at {large.patients:,}: "
            f"{'PASS' if large.patients_per_second >= TARGET_PATIENTS_PER_SECOND else 'FAIL'}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["loop"]:
        single_process_loop(Path(argv[1]))
        return 0
    parser = argparse.ArgumentParser(prog="python -m benchmarks.population")
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--cores", type=int, default=min(2, os.cpu_count() or 1))
    args = parser.parse_args(argv)
    results = measure(args.sizes, args.cores)
    print(render(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
