"""R9: osteopenia of prematurity; its presence silences every adult rule."""

from __future__ import annotations

from . import wording
from .assessment import Assessment
from .recommendation import Evidence, Indicator, Recommendation


def osteopenia_of_prematurity(a: Assessment) -> Recommendation | None:
    diagnosis = a.eligibility.prematurity
    if diagnosis is None:
        return None
    return Recommendation(
        rule_id="R9",
        indicator=Indicator.INFO,
        summary=(
            "Osteopenia of prematurity: ensure calcium, phosphorus and vitamin D; bone density "
            "typically normalises after the first year"
        ),
        advice=(
            "Osteopenia (metabolic bone disease) of prematurity is managed with nutrition: "
            "appropriate calcium, phosphorus and vitamin D supplementation (AAP 2013), monitored "
            "with alkaline phosphatase and phosphate rather than DXA T-scores.",
            "With this support, bone density typically normalises after the first year of life. "
            "Adult osteoporosis rules (T-scores, FRAX, bisphosphonates) do not apply.",
        ),
        evidence=(
            Evidence(
                f"Diagnosis: {diagnosis.source.display or diagnosis.kind.value}",
                wording.code(diagnosis.system, diagnosis.code),
                diagnosis.source.date,
                diagnosis.source.reference,
            ),
        ),
        references=("AAP2013",),
    )
