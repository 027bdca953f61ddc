"""R5: osteopenia without a recent fracture-risk calculation (FRAX)."""

from __future__ import annotations

from . import wording
from .assessment import Assessment
from .classification import BoneStatus
from .duration import stopped_denosumab
from .recommendation import Indicator, Link, Recommendation

FRAX_US_URL = "https://frax.shef.ac.uk/FRAX/tool.aspx?country=9"


def fracture_risk_not_assessed(a: Assessment) -> Recommendation | None:
    c = a.classification
    if not a.low_bone_mass or c.status is not BoneStatus.OSTEOPENIA:
        return None
    if a.on_osteoporosis_therapy or c.fragility_fractures or a.recent_frax:
        return None
    th = a.thresholds
    # FRAX is not calibrated below 40 (e.g. a 35-year-old after premature menopause)
    if a.eligibility.age is None or a.eligibility.age < th.frax_min_age_years:
        return None
    # After denosumab a follow-on bisphosphonate is needed whatever the FRAX (R7 warns):
    # "treatment depends on fracture risk" would contradict it
    if stopped_denosumab(a) is not None:
        return None
    return Recommendation(
        rule_id="R5",
        indicator=Indicator.INFO,
        summary=wording.shorten(
            f"{c.headline}: calculate 10-year fracture risk (FRAX) to decide on drug treatment"
        ),
        advice=(
            f"No FRAX result within the past {wording.number(th.frax_recency_years)} years. "
            "**Treatment depends on fracture risk, not on bone density alone**: with osteopenia, "
            f"drug treatment is indicated when the 10-year major osteoporotic fracture risk is ≥ "
            f"{wording.number(th.frax_major_osteoporotic_treatment_percent)} % or the hip "
            f"fracture risk is ≥ {wording.number(th.frax_hip_treatment_percent)} % (BHOF 2022).",
            "Calculate it with the US FRAX tool (valid for ages 40–90, untreated patients), "
            "entering the femoral-neck BMD or T-score, and record the result (LOINC 90265-0 major "
            "osteoporotic, 90266-8 hip) so that the next evaluation can use it.",
        ),
        evidence=c.evidence(),
        references=("BHOF2022", "FRAX", "SEED5", "SEED1"),
        links=(Link("Calculate FRAX 10-year fracture risk (US)", FRAX_US_URL),),
    )
