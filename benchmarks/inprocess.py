"""In-process cost of one patient-view request, beside its JSON floor.

Three timings per workload, all in this process:
- app: the whole request through the Flask app (test client: body bytes in, response bytes
  out, with validation, prefetch resolution, the engine, the card log and the request log);
- engine: ``Engine.evaluate`` on the already parsed prefetch (mapping + rules + cards);
- floor: ``json.loads`` of the request body plus ``json.dumps`` of the response, the least
  any Python service must do with the same bytes.
"""

from __future__ import annotations

import gc
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask

from benchmarks.stats import Summary, summarize
from benchmarks.workloads import SERVICE_ID, Workload
from cds_service.app import create_app
from cds_service.settings import Settings

HOOK_PATH = f"/cds-services/{SERVICE_ID}"
REQUEST_LOGGER = "cds_service.requests"


def bench_settings(data_dir: Path, rules_file: Path | None = None) -> Settings:
    # Auth off (no trusted issuers; the test client is a loopback peer); the body cap is
    # raised so the 10,000-Observation patient (several MB) is measured, not refused.
    return Settings(
        environment="development",
        log_level="INFO",
        data_dir=data_dir,
        max_body_bytes=256 * 1024 * 1024,
        max_prefetch_entries=100_000,
        rules_file=rules_file,
    )


def make_app(data_dir: Path, rules_file: Path | None = None) -> Flask:
    app = create_app(bench_settings(data_dir, rules_file))
    # The request log writes one line per request: it stays on, written to a file in the
    # data directory instead of the terminal.
    stream = (data_dir / "requests.log").open("a", encoding="utf-8")
    for handler in logging.getLogger(REQUEST_LOGGER).handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(stream)
    return app


def time_calls(
    fn: Callable[[], Any], *, budget_s: float, min_runs: int = 5, max_runs: int = 3000
) -> list[float]:
    return timed_calls(fn, budget_s=budget_s, min_runs=min_runs, max_runs=max_runs)[0]


def timed_calls(
    fn: Callable[[], Any], *, budget_s: float, min_runs: int = 5, max_runs: int = 3000
) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU seconds of each call.

    On a shared machine the wall clock includes waiting for a core; the CPU time of this
    process does not, so ratios and growth are computed on it (both are reported).
    """
    for _ in range(2):  # warm caches and lazy imports
        fn()
    gc.collect()
    wall: list[float] = []
    cpu: list[float] = []
    deadline = time.perf_counter() + budget_s
    while len(wall) < max_runs and (len(wall) < min_runs or time.perf_counter() < deadline):
        start, cpu_start = time.perf_counter(), time.process_time()
        fn()
        cpu.append(time.process_time() - cpu_start)
        wall.append(time.perf_counter() - start)
    return wall, cpu


@dataclass(frozen=True)
class InProcessResult:
    workload: Workload
    label: str
    app: Summary  # wall clock
    app_cpu: Summary
    engine: Summary  # CPU
    floor: Summary  # CPU
    floor_wall: Summary
    cards: int
    response_bytes: int

    @property
    def ratio_to_floor(self) -> float:
        """Median CPU of the whole request over the median CPU of the JSON floor."""
        return self.app_cpu.median_ms / self.floor.median_ms

    def to_json(self) -> dict[str, Any]:
        return {
            "workload": self.label,
            "patient_id": self.workload.patient_id,
            "resources": self.workload.resources,
            "observations": self.workload.observations,
            "request_bytes": len(self.workload.body),
            "response_bytes": self.response_bytes,
            "cards": self.cards,
            "app": self.app.to_json(),
            "app_cpu": self.app_cpu.to_json(),
            "engine_cpu": self.engine.to_json(),
            "floor_cpu": self.floor.to_json(),
            "floor_wall": self.floor_wall.to_json(),
            "app_cpu_median_over_floor_cpu_median": self.ratio_to_floor,
        }


def measure_workload(
    app: Flask, workload: Workload, *, budget_s: float, label: str | None = None
) -> InProcessResult:
    client = app.test_client()
    engine = app.extensions["cds_engine"]

    def call_app() -> bytes:
        response = client.post(workload.path, data=workload.body, content_type="application/json")
        if response.status_code != 200:
            raise RuntimeError(
                f"{workload.name}: HTTP {response.status_code}: {response.get_data()[:300]!r}"
            )
        return response.get_data()

    response_bytes = call_app()
    response = json.loads(response_bytes)
    request = json.loads(workload.body)
    prefetch = request["prefetch"]
    drafts = request["context"].get("draftOrders")

    def call_engine() -> None:
        if drafts is None:
            engine.evaluate(prefetch, patient_id=workload.patient_id, as_of=workload.as_of)
        else:
            engine.evaluate_orders(
                prefetch, drafts, patient_id=workload.patient_id, as_of=workload.as_of
            )

    def call_floor() -> None:
        json.loads(workload.body)
        json.dumps(response)

    app_wall, app_cpu = timed_calls(call_app, budget_s=budget_s)
    _, engine_cpu = timed_calls(call_engine, budget_s=budget_s / 2)
    floor_wall, floor_cpu = timed_calls(call_floor, budget_s=budget_s / 2)
    return InProcessResult(
        workload=workload,
        label=label or workload.name,
        app=summarize(app_wall),
        app_cpu=summarize(app_cpu),
        engine=summarize(engine_cpu),
        floor=summarize(floor_cpu),
        floor_wall=summarize(floor_wall),
        cards=len(response["cards"]),
        response_bytes=len(response_bytes),
    )


def silent_rules_file(data_dir: Path) -> Path:
    """A rules file that makes every rule silent: each card is computed and logged, none
    returned (the governance step's whole path: modes, card log rows marked silent)."""
    from cds_service.governance_rules import RULE_IDS

    path = data_dir / "rules-all-silent.json"
    path.write_text(json.dumps({"rules": dict.fromkeys(sorted(RULE_IDS), "silent")}))
    return path
