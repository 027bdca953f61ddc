"""25(OH)D: unit-driven conversion, comparators, numeric strings, analyte traps."""

from __future__ import annotations

import pytest

from .builders import LOINC, concept, facts_of, messages, observation


@pytest.mark.parametrize(
    ("code", "value", "unit", "ng"),
    [
        ("14635-7", 45, "nmol/L", 18.03),  # §4 item 7: deficient below 20 ng/mL
        ("14635-7", 60, "nmol/L", 24.04),
        ("62292-8", 45, "nmol/L", 18.03),  # the unit drives the conversion, not the code
        ("14635-7", 25, "ng/mL", 25.0),
        ("62292-8", 31.5, "ng/mL", 31.5),
        ("83070-3", 22, "ng/mL", 22.0),
        ("1989-3", 19, "ug/L", 19.0),
        ("49054-0", 30, "ng/mL", 30.0),
    ],
)
def test_conversion(code: str, value: float, unit: str, ng: float) -> None:
    (level,) = facts_of(observation("v1", code, value, unit)).vitamin_d
    assert level.ng_per_ml == pytest.approx(ng, abs=0.01)
    assert (level.original_value, level.original_unit, level.code) == (value, unit, code)
    assert level.ambiguous_analyte is (code == "49054-0")


def test_comparator_in_quantity() -> None:
    obs = observation("v1", "62292-8")
    obs["valueQuantity"] = {"value": 8, "comparator": "<", "unit": "ng/mL"}
    (level,) = facts_of(obs).vitamin_d
    assert (level.comparator, level.ng_per_ml) == ("<", 8.0)


@pytest.mark.parametrize(
    ("text", "comparator", "ng"),
    [("<8", "<", 8.0), ("<4.0", "<", 4.0), ("< 10 nmol/L", "<", 4.006), ("22.5", None, 22.5),
     (">150 ng/mL", ">", 150.0), ("≤12", "<=", 12.0)],
)  # fmt: skip
def test_value_string(text: str, comparator: str | None, ng: float) -> None:
    (level,) = facts_of(observation("v1", "62292-8", valueString=text)).vitamin_d
    assert level.comparator == comparator
    assert level.ng_per_ml == pytest.approx(ng, abs=0.001)


def test_missing_unit_uses_the_codes_unit_with_a_note() -> None:
    facts = facts_of(
        observation("v1", "14635-7", 50), observation("v2", "62292-8", 50, when="2024-04-01")
    )
    assert [round(v.ng_per_ml, 2) for v in facts.vitamin_d] == [20.03, 50.0]
    assert "without a unit" in messages(facts)


def test_dihydroxy_vitamin_d_never_used() -> None:
    calcitriol = observation("v1", "1989-3", 45, "pg/mL")
    calcitriol["code"] = concept(LOINC, "1989-3", "1,25-Dihydroxyvitamin D3 [Mass/volume]")
    facts = facts_of(calcitriol, observation("v2", "1649-3", 40, "pg/mL"))
    assert facts.vitamin_d == []
    assert "1,25-dihydroxy" in messages(facts)


def test_unknown_unit_and_garbage_rejected() -> None:
    facts = facts_of(
        observation("v1", "62292-8", 3, "mg/dL"),
        observation("v2", "62292-8", valueString="pending"),
        observation("v3", "62292-8", -4, "ng/mL"),
    )
    assert facts.vitamin_d == []
