"""Card form across rules: hostile record text stays inert; real Synthea records pass."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest

from cds_service.cards import escape
from cds_service.engine import Engine

from . import fhir_builders as fb
from .card_rules import check_cards
from .conftest import Run
from .people import LAST_MONTH, months_ago, woman

HOSTILE = "<img src=x onerror=alert(1)> [click](javascript:alert(1)) **bold**\n# heading"


def test_cards_escape_record_text_in_markdown(run: Run) -> None:
    pid = "cards-hostile"
    cards = run(
        fb.prefetch(
            woman(pid),
            fb.condition(pid, fb.SNOMED, "312894000", HOSTILE, months_ago(6)),
            fb.vitamin_d(pid, 32, LAST_MONTH),
        ),
        pid,
    )
    for card in cards.values():
        detail = card["detail"]
        assert "<img" not in detail and "[click](" not in detail and "\\[click\\]" in detail
        assert "\n# heading" not in detail


def test_escape_keeps_text_readable() -> None:
    assert escape("Fracture of neck of femur") == "Fracture of neck of femur"
    assert escape("a\n\n- b") == "a - b"
    assert escape("<b>") == "&lt;b&gt;"
    assert escape("[x](y)") == "\\[x\\](y)"
    assert len(escape("x" * 1000)) == 300


def test_cards_never_say_cured_and_carry_lifelong_note(run: Run) -> None:
    pid = "cards-lifelong"
    cards = run(
        fb.prefetch(
            woman(pid),
            fb.t_score(pid, "lumbar spine", -2.7, LAST_MONTH),
            fb.vitamin_d(pid, 32, LAST_MONTH),
        ),
        pid,
    )
    # v2: the "Always" paragraph once per response, on the first card that carries it (R4)
    assert "lifelong attention" in cards["R4"]["detail"]
    assert sum("lifelong attention" in card["detail"] for card in cards.values()) == 1
    for card in cards.values():
        assert "cure" not in json.dumps(card).lower()


SYNTHEA = Path(__file__).parents[1] / "fixtures" / "synthea"  # all 16; see its README.md


def _synthea_bundles() -> list[Path]:
    return sorted(SYNTHEA.glob("*.json"))


@pytest.mark.parametrize("path", _synthea_bundles(), ids=lambda p: p.name[:20])
def test_cards_from_real_synthea_records(engine: Engine, path: Path) -> None:
    bundle = json.loads(path.read_text(encoding="utf-8"))
    resources = [e["resource"] for e in bundle["entry"]]
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    last = date.fromisoformat(
        max(r["effectiveDateTime"][:10] for r in resources if r.get("effectiveDateTime"))
    )
    if "deceasedDateTime" in patient:  # Synthea records can run past death: evaluate in life
        last = min(last, date.fromisoformat(patient["deceasedDateTime"][:10]) - timedelta(days=1))
    cards = engine.evaluate({"everything": bundle}, patient_id=patient["id"], as_of=last)
    by_rule = check_cards(cards, patient["id"])
    has_t_scores = any(
        r["resourceType"] == "Observation"
        and r["code"]["coding"][0]["code"] == "38265-5"
        and r.get("valueQuantity", {}).get("value", 0) <= -2.5
        for r in resources
    )
    if has_t_scores and date.fromisoformat(patient["birthDate"]).year < 1970:
        assert "R2" in by_rule  # osteoporosis by T-score: foundations always apply
        assert by_rule["R2"]["summary"].startswith("Osteoporosis")
