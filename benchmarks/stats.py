"""Summaries of timing samples and the linear fit of cost against patient size."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Summary:
    n: int
    min_ms: float
    median_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in [0, 100]) of already sorted values."""
    if not sorted_values:
        raise ValueError("no samples")
    rank = max(1, min(len(sorted_values), math.ceil(q / 100 * len(sorted_values))))
    return sorted_values[rank - 1]


def summarize(seconds: Sequence[float]) -> Summary:
    values = sorted(s * 1000.0 for s in seconds)
    return Summary(
        n=len(values),
        min_ms=values[0],
        median_ms=statistics.median(values),
        p99_ms=percentile(values, 99),
        mean_ms=statistics.fmean(values),
        max_ms=values[-1],
    )


@dataclass(frozen=True)
class LinearFit:
    slope_ms: float  # per unit of size
    intercept_ms: float
    r_squared: float
    # cost per unit at each size after removing the intercept: flat when growth is linear
    marginal_ms: tuple[float, ...]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def linear_fit(sizes: Sequence[float], times_ms: Sequence[float]) -> LinearFit:
    """Least squares time = intercept + slope * size, with R² and per-size marginal cost."""
    if len(sizes) != len(times_ms) or len(sizes) < 2:
        raise ValueError("need at least two (size, time) points")
    n = len(sizes)
    mean_x = sum(sizes) / n
    mean_y = sum(times_ms) / n
    sxx = sum((x - mean_x) ** 2 for x in sizes)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in zip(sizes, times_ms, strict=True))
    slope = sxy / sxx
    intercept = mean_y - slope * mean_x
    ss_tot = sum((y - mean_y) ** 2 for y in times_ms)
    ss_res = sum((y - (intercept + slope * x)) ** 2 for x, y in zip(sizes, times_ms, strict=True))
    r_squared = 1.0 - ss_res / ss_tot if ss_tot else 1.0
    marginal = tuple(
        (y - intercept) / x if x else 0.0 for x, y in zip(sizes, times_ms, strict=True)
    )
    return LinearFit(slope, intercept, r_squared, marginal)


def growth_exponent(size_a: float, time_a: float, size_b: float, time_b: float) -> float:
    """k in time ∝ size^k between two points: 1 is linear, 2 quadratic."""
    return math.log(time_b / time_a) / math.log(size_b / size_a)
