"""The seed's three situations, from the saved CDS Hooks request bodies (exact card sets)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cds_service.cli import evaluate_request
from cds_service.engine import Engine
from cds_service.settings import Settings

from .card_rules import check_cards
from .conftest import AS_OF, Run

REQUESTS = Path(__file__).parent / "requests"


def _load(name: str) -> dict[str, Any]:
    body = json.loads((REQUESTS / name).read_text(encoding="utf-8"))
    assert body["hook"] == "patient-view"
    assert body["hookInstance"] and body["context"]["userId"] and body["context"]["patientId"]
    return body


def _run(run: Run, name: str) -> dict[str, dict[str, Any]]:
    body = _load(name)
    return run(body["prefetch"], body["context"]["patientId"])


def test_r2_r5_seed_woman_62_osteopenia_without_frax(run: Run) -> None:
    cards = _run(run, "seed_osteopenia_no_frax_01.json")
    assert set(cards) == {"R2", "R5"}
    assert cards["R2"]["summary"].startswith("Osteopenia (T −1.8, femoral neck, 2026-10-20)")
    assert cards["R5"]["links"][0]["url"] == "https://frax.shef.ac.uk/FRAX/tool.aspx?country=9"


def test_r2_r4_seed_woman_62_frax_hip_3_3(run: Run) -> None:
    cards = _run(run, "seed_osteopenia_frax_hip_02.json")
    assert set(cards) == {"R2", "R4"}
    r4 = cards["R4"]
    assert r4["indicator"] == "warning"
    assert "FRAX hip 3.3 %" in r4["summary"]
    assert r4["selectionBehavior"] == "at-most-one"
    drugs = [
        s["actions"][0]["resource"]["medicationCodeableConcept"]["text"] for s in r4["suggestions"]
    ]
    assert drugs == ["alendronate 70 mg oral tablet", "risedronate 35 mg oral tablet"]


def test_r2_r4_seed_man_70_hip_fracture_at_68(run: Run) -> None:
    cards = _run(run, "seed_man_hip_fracture_03.json")
    assert set(cards) == {"R2", "R4"}
    assert "hip fragility fracture, 2024-08-14" in cards["R4"]["summary"]
    assert "at age 68" in cards["R4"]["detail"]
    assert cards["R2"]["summary"].startswith("Osteoporosis (hip fragility fracture")
    # men 50-70: 1,000 mg calcium (IOM 2011, BHOF 2022)
    assert "1,000 mg/day" in cards["R2"]["detail"]


@pytest.mark.parametrize("name", sorted(p.name for p in REQUESTS.glob("seed_*.json")))
def test_seed_requests_are_complete_hook_requests(name: str) -> None:
    body = _load(name)
    assert set(body) == {"hook", "hookInstance", "context", "prefetch"}
    assert body["prefetch"]["patient"]["id"] == body["context"]["patientId"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("seed_osteopenia_no_frax_01.json", {"R2", "R5"}),
        ("seed_osteopenia_frax_hip_02.json", {"R2", "R4"}),
        ("seed_man_hip_fracture_03.json", {"R2", "R4"}),
    ],
)
def test_r2_r4_r5_seed_requests_through_the_command_line_path(
    engine: Engine, name: str, expected: set[str]
) -> None:
    """The files satisfy the service's prefetch templates: no fetch is needed, no 412."""
    body = _load(name)
    response = evaluate_request(body, Settings(), as_of=AS_OF, engine=engine)
    cards = check_cards(response["cards"], body["context"]["patientId"])
    assert set(cards) == expected
