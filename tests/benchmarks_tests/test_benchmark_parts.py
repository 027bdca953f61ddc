"""The benchmark's own parts behave: statistics, Dockerfile settings, workloads, the load
generator and the report. (Timings are measured by `make bench`, never asserted here.)"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from benchmarks.report import render, targets
from benchmarks.servers import docker_gunicorn_settings
from benchmarks.stats import growth_exponent, linear_fit, percentile, summarize
from benchmarks.workloads import generated_workload
from benchmarks.wrk import parse_output, run_wrk


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([7.0], 99) == 7.0
    with pytest.raises(ValueError):
        percentile([], 50)


def test_summary_in_milliseconds() -> None:
    summary = summarize([0.001, 0.003, 0.002])
    assert (summary.n, summary.min_ms, summary.median_ms, summary.max_ms) == (3, 1.0, 2.0, 3.0)


def test_linear_fit_and_growth_exponent() -> None:
    sizes = [10.0, 100.0, 1000.0]
    fit = linear_fit(sizes, [5 + 2 * s for s in sizes])
    assert fit.slope_ms == pytest.approx(2.0)
    assert fit.intercept_ms == pytest.approx(5.0)
    assert fit.r_squared == pytest.approx(1.0)
    assert growth_exponent(10, 3, 100, 30) == pytest.approx(1.0)
    assert growth_exponent(10, 1, 100, 100) == pytest.approx(2.0)


def test_gunicorn_settings_follow_the_dockerfile(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(
        "FROM python:3.11-slim\n"
        "ENV CDS_DATA_DIR=/var/lib/x \\\n    GUNICORN_CMD_ARGS=--timeout=30\n"
        'CMD ["gunicorn", "--config", "python:cds_service.gunicorn_conf", "--workers", "4", '
        '"--bind", "0.0.0.0:8080", "--threads", "2", "cds_service.app:create_app()"]\n'
    )
    settings = docker_gunicorn_settings(dockerfile)
    assert settings.source == "Dockerfile"
    assert settings.args == (
        "--config",
        "python:cds_service.gunicorn_conf",
        "--threads",
        "2",
        "--workers",
        "2",
    )
    assert settings.env == {"CDS_DATA_DIR": "/var/lib/x", "GUNICORN_CMD_ARGS": "--timeout=30"}


def test_gunicorn_settings_without_dockerfile(tmp_path: Path) -> None:
    settings = docker_gunicorn_settings(tmp_path / "missing")
    assert "--workers" in settings.args
    assert settings.source.startswith("defaults")


@pytest.mark.parametrize("count", [10, 1000])
def test_generated_patient_has_the_asked_observations(count: int) -> None:
    workload = generated_workload(count)
    assert workload.observations == count
    body = json.loads(workload.body)
    assert body["hook"] == "patient-view"
    assert body["context"]["patientId"] == workload.patient_id
    observations = [
        e["resource"]
        for value in body["prefetch"].values()
        if value.get("resourceType") == "Bundle"
        for e in value["entry"]
        if e["resource"]["resourceType"] == "Observation"
    ]
    assert len(observations) == count
    assert len({o["id"] for o in observations}) == count
    assert any(o["code"]["coding"][0]["code"] == "38265-5" for o in observations)


class _Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        body = json.loads(self.rfile.read(length))
        status = 200 if body.get("hook") == "patient-view" else 400
        answer = b'{"cards": []}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def echo_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_wrk_counts_answers_and_errors(echo_server: ThreadingHTTPServer) -> None:
    url = f"http://127.0.0.1:{echo_server.server_address[1]}/x"
    good = run_wrk(url, b'{"hook": "patient-view"}', duration_s=1, connections=2)
    assert good.requests > 0 and good.errors == 0
    assert good.throughput == good.requests / good.seconds
    assert 0 < good.p50_ms <= good.p99_ms <= good.max_ms
    bad = run_wrk(url, b'{"hook": "order-sign"}', duration_s=1, connections=1)
    assert bad.requests > 0 and bad.errors == bad.requests  # every answer a 400
    assert bad.throughput == 0


def test_wrk_output_is_read() -> None:
    line = (
        'WRK_JSON {"requests":1000,"duration_us":2000000,"bytes":5,"connect_errors":1,'
        '"read_errors":2,"write_errors":0,"status_errors":7,"timeouts":3,"mean_us":1500.5,'
        '"p50_us":1200,"p90_us":2500,"p99_us":9000,"max_us":20000}'
    )
    result = parse_output(f"Running 2s test @ http://x\n{line}\n")
    assert (result.requests, result.errors, result.timeouts) == (1000, 13, 3)
    assert result.throughput == pytest.approx((1000 - 13) / 2)
    assert (result.p50_ms, result.p99_ms, result.max_ms) == (1.2, 9.0, 20.0)
    with pytest.raises(RuntimeError, match="wrk printed no result"):
        parse_output("unable to connect to 127.0.0.1:1 Connection refused\n")


def test_isolation_table_compares_with_the_first_row() -> None:
    from benchmarks.isolation import render

    def row(name: str, alone: float, hanging: float, statuses: list[int]) -> dict[str, Any]:
        calls = [{"fault": "blackhole", "status": s, "seconds": 8.0, "error": ""} for s in statuses]
        return {
            "candidate": name,
            "alone": {"throughput_rps": alone, "p99_ms": 10.0},
            "hanging": {"throughput_rps": hanging, "p99_ms": 20.0},
            "hanging_calls": calls,
        }

    lines = render([row("sync", 800, 0, [412] * 8), row("gthread", 700, 680, [412] * 8)])
    assert "| sync | 800, 10.0 ms | 0, none answered | 0% | 0.00× | 412 × 8; 8.0 s |" in lines
    assert "| gthread | 700, 10.0 ms | 680, 20.0 ms | 97% | 0.85× | 412 × 8; 8.0 s |" in lines


def _inprocess_row(name: str, observations: int, cpu: float, floor: float) -> dict[str, Any]:
    summary = {"n": 5, "min_ms": cpu, "median_ms": cpu, "p99_ms": cpu, "mean_ms": cpu}
    return {
        "workload": name,
        "resources": observations + 2,
        "observations": observations,
        "request_bytes": 1000 * observations,
        "cards": 4,
        "app": summary,
        "app_cpu": summary,
        "engine_cpu": {**summary, "median_ms": cpu / 2},
        "floor_cpu": {**summary, "median_ms": floor},
        "app_cpu_median_over_floor_cpu_median": cpu / floor,
    }


def test_report_renders_every_target() -> None:
    raw = {
        "started": "2026-01-01T00:00:00+00:00",
        "machine": {
            "cpu": "cpu",
            "cores": 2,
            "memory": "1 GiB",
            "os": "Linux",
            "implementation": "CPython",
            "python": "3.11",
        },
        "versions": {"git_commit": "abc"},
        "load_average": {"start": [1.0], "end": [1.0]},
        "inprocess": [
            _inprocess_row("typical", 14, 3.0, 0.3),
            _inprocess_row("generated 10 Observations", 10, 2.0, 0.1),
            _inprocess_row("generated 100 Observations", 100, 3.0, 0.4),
            _inprocess_row("generated 10,000 Observations", 10_000, 200.0, 100.0),
        ],
        "fallback": [],
        "http": [],
    }
    rendered = render(raw)
    assert "typical" in rendered and "Targets" in rendered
    verdicts = {name: verdict for name, _, verdict in targets(raw)}
    assert verdicts["typical patient p99 < 20 ms in-process"] == "PASS"
    assert verdicts["10,000-Observation patient within 3× the JSON floor"] == "PASS"
    assert "cost linear in patient size" in verdicts


def test_the_every_rule_silent_app_logs_cards_and_returns_none(tmp_path: Path) -> None:
    from sqlalchemy import select

    from benchmarks.inprocess import bench_settings, measure_workload, silent_rules_file
    from benchmarks.workloads import generated_workload
    from cds_service.app import create_app
    from cds_service.store.models import issued_cards

    def make_app(data_dir: Path, rules_file: Path | None = None) -> Any:
        # Not the benchmark's make_app: that one points the request log at a file, which
        # would take the log away from pytest's capture.
        return create_app(bench_settings(data_dir, rules_file))

    workload = generated_workload(20)
    hook = "/cds-services/osteopenia-management"
    plain = make_app(tmp_path / "plain").test_client()
    shown = plain.post(hook, data=workload.body, content_type="application/json").get_json()
    assert shown["cards"], "the workload has something to say"
    silent_app = make_app(tmp_path / "silent", silent_rules_file(tmp_path))
    answer = silent_app.test_client().post(
        hook, data=workload.body, content_type="application/json"
    )
    assert answer.get_json() == {"cards": []}
    silent_app.extensions["card_log"].flush()
    with silent_app.extensions["store"].engine.connect() as conn:
        dispositions = conn.execute(select(issued_cards.c.disposition)).scalars().all()
    assert dispositions and set(dispositions) == {"silent"}
    result = measure_workload(silent_app, workload, budget_s=0.05, label="silent")
    assert result.to_json()["workload"] == "silent"
    silent_app.extensions["store"].close()
    plain.application.extensions["store"].close()
