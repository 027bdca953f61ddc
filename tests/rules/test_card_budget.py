"""Card budget and shape (clinical-spec §0.4) over every fixture patient and demo patient.

For each response: no card detail over 2,000 characters; the "Always" paragraph at most once;
no advice line on two cards; every inline citation [n] resolves to the card's numbered
reference list, and every listed reference is a primary source of references.json (never a
web summary the rules were first drafted from); no bracket opened inside another in the
advice; indicators as §0.4 says.
"""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from cds_service.engine import Engine
from cds_service.guideline.references import catalogue
from tests.support.demo_fixtures import DEMO_PATIENTS, demo_bundles

from .card_rules import check_cards
from .test_corpus_outcomes import CMS249, CMS645, ECQM_AS_OF, _ecqm, _ecqm_folders

FIXTURES = Path(__file__).parents[1] / "fixtures"
SEED_SUMMARIES = (
    "praxis",
    "guideline directed topic overview",
    "medgenmed",
    "rev endocr metab disord",
    "reviews in endocrine",
    "clin mol allergy",
    "clinical and molecular allergy",
    "adolescent",
    "as cited",
)
INDICATORS = {  # rule -> the indicators §0.4 allows it
    "R0": {"info"},
    "R1": {"info"},
    "R2": {"info"},
    "R3": {"info", "warning"},
    "R4": {"warning"},
    "R5": {"info"},
    "R6": {"info"},
    "R7": {"info", "warning"},
    "R8": {"info"},
    "R9": {"info"},
    "R10": {"info"},
}
CITE = re.compile(r"\[(\d+)\]")
PAIRS = {"(": ")", "[": "]", "{": "}"}


def _synthea_cases() -> list[tuple[str, dict[str, Any], str, date]]:
    cases = []
    for path in sorted((FIXTURES / "synthea").glob("*.json")):
        bundle = json.loads(path.read_text(encoding="utf-8"))
        resources = [e["resource"] for e in bundle["entry"]]
        patient = next(r for r in resources if r["resourceType"] == "Patient")
        last = date.fromisoformat(
            max(r["effectiveDateTime"][:10] for r in resources if r.get("effectiveDateTime"))
        )
        if "deceasedDateTime" in patient:
            last = min(last, date.fromisoformat(patient["deceasedDateTime"][:10]) - timedelta(1))
        cases.append((path.stem[:24], {"everything": bundle}, patient["id"], last))
    return cases


def _ecqm_cases() -> list[tuple[str, dict[str, Any], str, date]]:
    cases = []
    for measure in (CMS249, CMS645):
        for folder in _ecqm_folders(measure):
            prefetch, pid = _ecqm(folder)
            cases.append((f"{measure}-{folder.name[:8]}", prefetch, pid, ECQM_AS_OF))
    return cases


def _demo_cases() -> list[tuple[str, dict[str, Any], str, date]]:
    today = date.today()
    bundles = demo_bundles(today)
    cases = []
    for patient in DEMO_PATIENTS:
        entries = [{"resource": e["resource"]} for e in bundles[patient.patient_id]["entry"]]
        prefetch = {"everything": {"resourceType": "Bundle", "type": "searchset", "entry": entries}}
        cases.append((patient.patient_id, prefetch, patient.patient_id, today))
    return cases


CASES = _synthea_cases() + _ecqm_cases() + _demo_cases()


def advice_part(detail: str) -> str:
    """The card's own words: the detail up to the facts and references."""
    return re.split(r"\n\n\*\*(?:Based on|References):\*\*", detail)[0]


def advice_lines(detail: str) -> list[str]:
    text = advice_part(detail).replace("**Always:**", "")
    lines = [line.strip() for line in text.splitlines()]
    # headings ("Criteria met:") and a card's own "Sources: [3]." line are structure, not advice
    kept = [line for line in lines if line and line[-1] != ":" and not line.startswith("Sources:")]
    return [re.sub(r"\[\d+\]", "", line).strip() for line in kept]


def nested_bracket(text: str) -> str | None:
    """The first bracket opened while another is open, as text around it; None if none."""
    depth = 0
    for i, char in enumerate(text):
        if char in PAIRS:
            if depth:
                return text[max(0, i - 40) : i + 40]
            depth += 1
        elif char in PAIRS.values():
            depth = max(0, depth - 1)
    return None


VITAMIN_D_DOSE = re.compile(r"\d[\d,]*(?:–[\d,]+)? IU")
CALCIUM_DOSE = re.compile(r"calcium\b[^.;]*?\d[\d,]*(?:–[\d,]+)? mg", re.IGNORECASE)


def supplement_doses(detail: str) -> set[str]:
    """The supplement doses a card states in its own words (clinical-spec §0.4: one card of a
    response gives each, the others defer to it)."""
    text = advice_part(detail)
    found = {"vitamin D"} if VITAMIN_D_DOSE.search(text) else set()
    return found | ({"calcium"} if CALCIUM_DOSE.search(text) else set())


def check_supplement_doses(cards: list[dict[str, Any]]) -> None:
    dosed: dict[str, str] = {}
    for card in cards:
        rule = card["source"]["topic"]["code"]
        for supplement in supplement_doses(card["detail"]):
            assert supplement not in dosed, f"{rule} and {dosed[supplement]}: {supplement} doses"
            dosed[supplement] = rule


def check_response(cards: list[dict[str, Any]], pid: str) -> None:
    check_cards(cards, pid)
    short_forms = {ref.short_form for ref in catalogue().references.values()}
    assert sum("**Always:**" in c["detail"] for c in cards) <= 1
    seen: dict[str, str] = {}
    check_supplement_doses(cards)
    for card in cards:
        rule, detail = card["source"]["topic"]["code"], card["detail"]
        assert len(detail) <= 2000, (rule, len(detail))
        assert card["indicator"] in INDICATORS[rule], (rule, card["indicator"])
        for line in advice_lines(detail):
            assert line not in seen, f"{rule} repeats advice of {seen.get(line)}: {line}"
            seen[line] = rule
        assert nested_bracket(advice_part(detail)) is None, nested_bracket(advice_part(detail))
        assert nested_bracket(card["summary"]) is None, card["summary"]
        references = detail.split("**References:**\n")[1].splitlines()
        numbered = {}
        for line in references:
            number, _, text = line.partition(". ")
            numbered[int(number)] = text
            assert text in short_forms, f"{rule}: not a listed primary source: {text}"
            assert not any(s in text.lower() for s in SEED_SUMMARIES), text
        assert list(numbered) == list(range(1, len(numbered) + 1))
        for cited in CITE.findall(advice_part(detail)):
            assert int(cited) in numbered, f"{rule}: [{cited}] has no reference"
        assert "{{" not in detail, f"{rule}: an unresolved citation marker"
        if "**Based on:**" in detail:  # the budget never pushes out every fact a card rests on
            assert not detail.split("**Based on:**\n")[1].startswith("- \u2026"), rule
        # effect sizes by fracture type (ACP 2023), never a bare figure; never "lower risk"
        assert "about 50 %" not in detail and "lower risk" not in detail.lower(), rule


@pytest.mark.parametrize(("name", "prefetch", "pid", "as_of"), CASES, ids=[c[0] for c in CASES])
def test_card_budget_every_fixture_and_demo_patient(
    engine: Engine, name: str, prefetch: dict[str, Any], pid: str, as_of: date
) -> None:
    check_response(engine.evaluate(prefetch, patient_id=pid, as_of=as_of), pid)


def test_card_budget_checker_finds_what_it_looks_for() -> None:
    assert supplement_doses("- **Calcium** 1,200 mg/day.\n- **Vitamin D** 600–800 IU/day.") == {
        "calcium",
        "vitamin D",
    }
    assert supplement_doses("- **Vitamin D**: the dose is on the vitamin D card.") == set()
    assert supplement_doses("alendronate 70 mg weekly; check kidney function, calcium.") == set()
    r2 = {"source": {"topic": {"code": "R2"}}, "detail": "- **Vitamin D** 600–800 IU/day [1]."}
    r3 = {"source": {"topic": {"code": "R3"}}, "detail": "Replete: 50,000 IU once weekly [1]."}
    with pytest.raises(AssertionError, match="vitamin D doses"):
        check_supplement_doses([r3, r2])
    assert nested_bracket("a (b [c]) d") is not None
    assert nested_bracket("a (b) [c] d") is None
    assert advice_lines("x\n- y [2]\nCriteria met:\n\n**Based on:**\n- z") == ["x", "- y"]


def test_card_budget_no_seed_summary_in_the_reference_list() -> None:
    for ref in catalogue().references.values():
        text = f"{ref.label} {ref.short} {ref.citation}".lower()
        assert not any(s in text for s in SEED_SUMMARIES), ref.key
        assert ref.verified, ref.key
