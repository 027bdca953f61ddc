"""The replica benchmark's rows and table (figures are measured by `make bench`; wrk's own
report is read by benchmarks.wrk, tested in test_benchmark_parts)."""

from __future__ import annotations

from benchmarks.replicas import Row, render
from benchmarks.wrk import WrkResult


def test_a_row_takes_wrk_figures_with_errors_counted() -> None:
    result = WrkResult(
        requests=739,
        seconds=1.1,
        errors=74,
        timeouts=3,
        mean_ms=5.79,
        p50_ms=5.83,
        p90_ms=11.83,
        p99_ms=15.98,
        max_ms=16.49,
    )
    row = Row.of("one replica, direct", result)
    assert row == Row("one replica, direct", 739 / 1.1, 5.83, 15.98, 74)


def test_render_compares_with_one_replica() -> None:
    table = render([Row("one", 200.0, 5.0, 9.0, 0), Row("two", 150.0, 6.0, 12.0, 0)])
    assert "| one | 200 /s | 5.0 ms | 9.0 ms | 0 | 1.00× |" in table
    assert "| two | 150 /s | 6.0 ms | 12.0 ms | 0 | 0.75× |" in table
