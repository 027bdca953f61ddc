"""The one table `make bench` prints, rendered from the raw results (so a saved run can be
shown again: ``python -m benchmarks.report benchmarks/results/<timestamp>.json``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from benchmarks.stats import growth_exponent, linear_fit

TYPICAL_P99_MS = 20.0
BASELINE_SHARE = 0.70
HEALTHCHAIN_FACTOR = 1.5
FLOOR_FACTOR = 3.0
# Linear growth: doubling the chart at most ~2.2× the time (exponent ≤ 1.15 at the top sizes).
LINEAR_EXPONENT_MAX = 1.15


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    return [line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [
        line(r) for r in rows
    ]


def _ms(value: float) -> str:
    return f"{value:.2f}" if value < 100 else f"{value:.0f}"


def targets(raw: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(target, measured, verdict) for every target of the benchmark issue."""
    out: list[tuple[str, str, str]] = []
    inprocess = raw["inprocess"]
    typical = next(
        r for r in inprocess if r["workload"].startswith("typical") and "tmpfs" not in r["workload"]
    )
    p99 = typical["app"]["p99_ms"]
    out.append(
        (
            f"typical patient p99 < {TYPICAL_P99_MS:.0f} ms in-process",
            f"{p99:.2f} ms (median {typical['app']['median_ms']:.2f} ms)",
            _verdict(p99 < TYPICAL_P99_MS),
        )
    )
    on_tmpfs = next((r for r in inprocess if "tmpfs" in r["workload"]), None)
    if on_tmpfs is not None:
        p99 = on_tmpfs["app"]["p99_ms"]
        out.append(
            (
                f"typical patient p99 < {TYPICAL_P99_MS:.0f} ms [card log on tmpfs]",
                f"{p99:.2f} ms (median {on_tmpfs['app']['median_ms']:.2f} ms)",
                _verdict(p99 < TYPICAL_P99_MS),
            )
        )
    generated = [r for r in inprocess if r["workload"].startswith("generated")]
    if generated:
        largest = max(generated, key=lambda r: r["observations"])
        ratio = largest["app_cpu_median_over_floor_cpu_median"]
        out.append(
            (
                f"{largest['observations']:,}-Observation patient within {FLOOR_FACTOR:.0f}× "
                "the JSON floor",
                f"{ratio:.2f}× (CPU {_ms(largest['app_cpu']['median_ms'])} ms vs floor "
                f"{_ms(largest['floor_cpu']['median_ms'])} ms)",
                _verdict(ratio <= FLOOR_FACTOR),
            )
        )
        sizes = [float(r["observations"]) for r in generated]
        times = [r["app_cpu"]["median_ms"] for r in generated]
        floors = [r["floor_cpu"]["median_ms"] for r in generated]
        engines = [r["engine_cpu"]["median_ms"] for r in generated]
        own = [t - f for t, f in zip(times, floors, strict=True)]
        fit = linear_fit(sizes, times)

        def exponent(values: list[float]) -> float:
            return growth_exponent(sizes[-2], values[-2], sizes[-1], values[-1])

        # The JSON floor itself grows faster than linearly at millions of objects (CPython's
        # cyclic GC runs during the parse); the service's own work, request less floor, is
        # what must stay linear.
        out.append(
            (
                "cost linear in patient size",
                f"CPU {fit.slope_ms * 1000:.1f} µs/Observation (fit R² {fit.r_squared:.4f}); "
                f"growth exponent {int(sizes[-2]):,}→{int(sizes[-1]):,}: request less floor "
                f"{exponent(own):.2f}, engine {exponent(engines):.2f}, request "
                f"{exponent(times):.2f}, JSON floor {exponent(floors):.2f}",
                _verdict(fit.r_squared >= 0.99 and exponent(own) <= LINEAR_EXPONENT_MAX),
            )
        )
    http = raw.get("http", [])
    by_key = {(r["server"], r["observations"]): r for r in http}
    variants = [name for name in dict.fromkeys(r["server"] for r in http) if "service" in name]
    for variant in variants:
        label = "" if variant == "service" else f" [{variant}]"
        for observations in sorted({r["observations"] for r in http}):
            service = by_key.get((variant, observations))
            baseline = by_key.get(("baseline", observations))
            peer = by_key.get(("healthchain", observations))
            if service and baseline:
                share = service["throughput_rps"] / baseline["throughput_rps"]
                out.append(
                    (
                        f"HTTP {observations} Obs: ≥ {BASELINE_SHARE:.0%} of baseline{label}",
                        f"{share:.0%} ({service['throughput_rps']:.0f} vs "
                        f"{baseline['throughput_rps']:.0f} req/s)",
                        _verdict(share >= BASELINE_SHARE),
                    )
                )
            if service and peer:
                factor = service["throughput_rps"] / peer["throughput_rps"]
                out.append(
                    (
                        f"HTTP {observations} Obs: ≥ {HEALTHCHAIN_FACTOR}× HealthChain{label}",
                        f"{factor:.2f}× ({service['throughput_rps']:.0f} vs "
                        f"{peer['throughput_rps']:.0f} req/s)",
                        _verdict(factor >= HEALTHCHAIN_FACTOR),
                    )
                )
    return out


def render(raw: dict[str, Any]) -> str:
    m = raw["machine"]
    v = raw["versions"]
    lines = [
        f"osteopenia-cds benchmarks, {raw['started'][:16].replace('T', ' ')} UTC, "
        f"commit {v['git_commit']}",
        f"machine: {m['cpu']}, {m['cores']} cores, {m['memory']}, {m['os']}, "
        f"{m['implementation']} {m['python']}; load average at start "
        f"{raw['load_average'].get('start')}, end {raw['load_average'].get('end')}",
        "",
        "In process, per hook request (ms; patient-view, and the typical chart at order-sign). "
        "request = the whole Flask request (test "
        "client): min/median/p99 wall clock, then median CPU; engine = Engine.evaluate (or "
        "evaluate_orders) on the "
        "parsed prefetch; floor = json.loads(request) + json.dumps(response); engine, floor "
        "and ÷floor on CPU medians (the machine is shared: CPU time leaves out waits for a core).",
    ]
    rows = []
    for r in raw["inprocess"]:
        app = r["app"]
        rows.append(
            [
                r["workload"],
                f"{r['resources']:,}",
                f"{r['observations']:,}",
                f"{r['request_bytes'] / 1024:,.0f} KiB",
                _ms(app["min_ms"]),
                _ms(app["median_ms"]),
                _ms(app["p99_ms"]),
                _ms(r["app_cpu"]["median_ms"]),
                _ms(r["engine_cpu"]["median_ms"]),
                _ms(r["floor_cpu"]["median_ms"]),
                f"{r['app_cpu_median_over_floor_cpu_median']:.1f}×",
                str(r["cards"]),
                str(app["n"]),
            ]
        )
    lines += _table(
        [
            "workload",
            "resources",
            "Obs",
            "request",
            "min",
            "median",
            "p99",
            "cpu",
            "engine",
            "floor",
            "÷floor",
            "cards",
            "n",
        ],
        rows,
    )
    generated = [r for r in raw["inprocess"] if r["workload"].startswith("generated")]
    if len(generated) >= 2:
        per_obs = ", ".join(
            f"{r['observations']:,}: {r['app_cpu']['median_ms'] * 1000 / r['observations']:.0f}"
            for r in generated
        )
        lines.append(f"request CPU µs per Observation at each generated size: {per_obs}")
    typical = next((r for r in raw["inprocess"] if r["workload"].startswith("typical:")), None)
    order = next((r for r in raw["inprocess"] if r["workload"].startswith("order-sign")), None)
    if typical is not None and order is not None:
        lines.append(
            "order-sign ÷ patient-view, same chart: median wall "
            f"{order['app']['median_ms'] / typical['app']['median_ms']:.2f}×, median CPU "
            f"{order['app_cpu']['median_ms'] / typical['app_cpu']['median_ms']:.2f}×"
        )

    if raw.get("fallback"):
        lines += ["", "Fall-back fetch: no prefetch, data from the test FHIR server (ms)"]
        lines += _table(
            ["patient", "min", "median", "p99", "cards", "n"],
            [
                [
                    r["workload"],
                    _ms(r["latency"]["min_ms"]),
                    _ms(r["latency"]["median_ms"]),
                    _ms(r["latency"]["p99_ms"]),
                    str(r["cards"]),
                    str(r["latency"]["n"]),
                ]
                for r in raw["fallback"]
            ],
        )

    http = raw.get("http", [])
    if http:
        settings = raw["settings"]
        gunicorn = settings["gunicorn"]
        lines += [
            "",
            f"HTTP (wrk): {settings['http_clients']} connections, {settings['http_seconds']:.0f} s "
            f"per run; gunicorn {' '.join(gunicorn['args'])} (from {gunicorn['from']}); "
            "HealthChain under uvicorn --workers 2 (uvloop, httptools)",
        ]
        rows = []
        for r in http:
            rows.append(
                [
                    r["server"],
                    f"{r['observations']}",
                    f"{r['request_bytes'] / 1024:,.0f} KiB",
                    f"{r['throughput_rps']:.0f}",
                    _ms(r["latency"]["median_ms"]),
                    _ms(r["latency"]["p99_ms"]),
                    str(r["errors"]),
                ]
            )
        lines += _table(["server", "Obs", "request", "req/s", "p50 ms", "p99 ms", "errors"], rows)
    if raw.get("isolation"):
        from benchmarks.isolation import render as render_isolation

        lines += ["", *render_isolation(raw["isolation"])]
    for name, why in raw.get("skipped", {}).items():
        lines.append(f"skipped {name}: {why}")

    lines += ["", "Targets"]
    lines += _table(["target", "measured", ""], [list(t) for t in targets(raw)])

    if raw.get("profiles"):
        lines += [
            "",
            "Profiles (pyinstrument; self time per call, library time charged to the "
            "project function that called it)",
        ]
        for p in raw["profiles"]:
            top = "; ".join(
                f"{h['where']} {h['self_ms']:.2f} ms ({h['share']:.0%})" for h in p["hotspots"][:5]
            )
            lines.append(f"- {p['name']} ({p['per_call_ms']:.1f} ms/call): {top}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(json.loads(Path(sys.argv[1]).read_text())))
