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


SEED_DONE_WHEN = [
    # 62-year-old woman, DXA last month T -1.8 femoral neck, 25(OH)D 32 ng/mL, nothing else
    ("seed_osteopenia_no_frax_01.json", {"R2", "R5"}, 0),
    # the same woman with a FRAX hip risk of 3.3 % last month: R4 with two draft orders
    ("seed_osteopenia_frax_hip_02.json", {"R2", "R4"}, 2),
    # 70-year-old man, T -1.5, hip fracture at 68: R4 regardless of FRAX
    ("seed_man_hip_fracture_03.json", {"R2", "R4"}, 2),
]


@pytest.mark.parametrize(("name", "expected", "r4_orders"), SEED_DONE_WHEN)
def test_r2_r4_r5_seed_requests_through_the_osteopenia_cds_evaluate_command(
    name: str,
    expected: set[str],
    r4_orders: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Issue 3's "Done when", literally: the console command's entry point on each saved
    request prints exactly the spec's cards, and every draft order validates as FHIR R4."""
    from cds_service.cli import EXIT_OK, main

    monkeypatch.setenv("CDS_DATA_DIR", str(tmp_path / "var"))
    path = REQUESTS / name
    assert main(["evaluate", str(path), "--as-of", AS_OF.isoformat()]) == EXIT_OK
    body = json.loads(capsys.readouterr().out)
    assert set(body) == {"cards"}
    pid = _load(name)["context"]["patientId"]
    cards = check_cards(body["cards"], pid)  # validates each draft with fhir.resources R4B
    assert set(cards) == expected
    assert len(cards.get("R4", {}).get("suggestions", [])) == r4_orders
    orders = [
        a["resource"]
        for c in cards.values()
        for s in c.get("suggestions", [])
        for a in s["actions"]
    ]
    assert orders and all(o["status"] == "draft" for o in orders)
