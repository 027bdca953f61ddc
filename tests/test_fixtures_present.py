"""The copied fixtures are all there: a missing copy fails here, by name, instead of leaving
the corpus tests with an empty parameter list (which pytest would only report as skipped)."""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures"  # sources and licences: README.md


def test_the_synthea_corpus_is_complete() -> None:
    assert len(list((FIXTURES / "synthea").glob("*.json"))) == 16


def test_the_ecqm_test_decks_are_present() -> None:
    for measure in ("dxa-women-under-65", "prostate-adt-bone-density"):
        patients = [p for p in (FIXTURES / "ecqm" / measure).iterdir() if p.is_dir()]
        assert patients, f"tests/fixtures/ecqm/{measure} has no patient folder"


def test_the_requirements_list_is_present() -> None:
    assert (FIXTURES / "reference" / "cds-hooks-2.0-requirements.csv").stat().st_size > 0
