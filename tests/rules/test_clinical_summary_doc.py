"""docs/clinical-summary.md is the rule data rendered: regenerate it and compare."""

from __future__ import annotations

from pathlib import Path

from cds_service.guideline import clinical_summary
from cds_service.guideline.order_checks import ORDER_CHECKS
from cds_service.guideline.references import catalogue
from cds_service.guideline.rules import RULES

DOC = Path(__file__).parents[2] / "docs" / "clinical-summary.md"


def test_clinical_summary_doc_is_current() -> None:
    assert DOC.read_text(encoding="utf-8") == clinical_summary.render(), (
        "regenerate: python -m cds_service.guideline.clinical_summary > docs/clinical-summary.md"
    )


def test_clinical_summary_covers_every_rule_and_cites_listed_sources() -> None:
    text = clinical_summary.render()
    assert len(RULES) == 11 and len(ORDER_CHECKS) == 7
    assert len(catalogue().rule_titles) == 11 + 7
    for rule_id, title in catalogue().rule_titles.items():
        assert f"## {rule_id}. {title}" in text
    assert "{" not in text.split("## References")[0]  # every threshold filled in
