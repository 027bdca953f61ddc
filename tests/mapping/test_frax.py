"""FRAX 10-year probabilities in percent (fractions × 100), boundaries and units."""

from __future__ import annotations

import pytest

from fhir_mappings.facts import FraxKind

from .builders import facts_of, messages, observation


@pytest.mark.parametrize(
    ("value", "unit", "percent"),
    [
        (8.4, "%", 8.4),
        (20.0, "%", 20.0),
        (19.99, "%", 19.99),
        (0.2, "1", 20.0),
        (0.2, None, 20.0),
        (0.5, "%", 0.5),  # a percent unit is kept even when small
        (1.0, "1", 100.0),
        (12.0, "1", 12.0),  # above 1 it cannot be a fraction
    ],
)
def test_percent_and_fraction(value: float, unit: str | None, percent: float) -> None:
    (risk,) = facts_of(observation("f1", "90265-0", value, unit)).frax
    assert risk.kind is FraxKind.MAJOR_OSTEOPOROTIC
    assert risk.percent == pytest.approx(percent)
    assert risk.source.reference == "Observation/f1"


def test_hip_only_and_string_value() -> None:
    facts = facts_of(observation("h1", "90266-8", valueString="3.0"))
    assert [(r.kind, r.percent) for r in facts.frax] == [(FraxKind.HIP, 3.0)]


def test_unknown_unit_and_out_of_range_rejected() -> None:
    facts = facts_of(
        observation("f1", "90265-0", 12, "mg"),
        observation("f2", "90265-0", 140, "%"),
        observation("f3", "90265-0", valueBoolean=True),
    )
    assert facts.frax == []
    log = messages(facts)
    assert "unknown unit" in log and "out of range" in log and "without a numeric value" in log
