"""The replica benchmark reads wrk's report right (figures are measured by `make bench`)."""

from __future__ import annotations

import pytest

from benchmarks.replicas import Row, parse_wrk, render

# wrk 4.1 (Debian) --latency, against a server answering one call in ten with a 500.
WRK_OUTPUT = """Running 1s test @ http://127.0.0.1:18999/
  2 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     5.79ms    4.07ms  16.49ms   59.65%
    Req/Sec   354.05    277.10     1.52k    95.24%
  Latency Distribution
     50%    5.83ms
     75%    8.38ms
     90%   11.83ms
     99%   15.98ms
  739 requests in 1.10s, 83.03KB read
  Non-2xx or 3xx responses: 74
Requests/sec:    672.08
Transfer/sec:     75.51KB
"""


def test_wrk_report_is_read() -> None:
    row = parse_wrk("one replica, direct", WRK_OUTPUT)
    assert row == Row("one replica, direct", 672.08, 5.83, 15.98, 74)


def test_socket_errors_count_and_units_convert() -> None:
    output = (
        WRK_OUTPUT.replace("    5.83ms", "  850.00us")
        .replace("   15.98ms", "    1.20s")
        .replace(
            "  Non-2xx or 3xx responses: 74",
            "  Socket errors: connect 1, read 2, write 0, timeout 3\n  Non-2xx or 3xx responses: 4",
        )
    )
    row = parse_wrk("x", output)
    assert (row.p50_ms, row.p99_ms, row.errors) == (0.85, 1200.0, 10)


def test_a_report_without_figures_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="wrk printed no result"):
        parse_wrk("x", "unable to connect to 127.0.0.1:1 Connection refused\n")


def test_render_compares_with_one_replica() -> None:
    table = render([Row("one", 200.0, 5.0, 9.0, 0), Row("two", 150.0, 6.0, 12.0, 0)])
    assert "| one | 200 /s | 5.0 ms | 9.0 ms | 0 | 1.00× |" in table
    assert "| two | 150 /s | 6.0 ms | 12.0 ms | 0 | 0.75× |" in table
