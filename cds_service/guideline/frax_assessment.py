"""R5: osteopenia whose fracture risk is not known now (FRAX).

Silent until a DXA is on record (R6 asks for it first). A FRAX older than the recency window,
older than the latest fragility fracture, or computed during osteoporosis therapy no longer
describes the patient: the card shows it, with its date and whether it was above the
treatment thresholds then, and asks for a new one. It never calls the patient "lower risk".
"""

from __future__ import annotations

from fhir_mappings.facts import FraxKind, FraxRisk

from . import wording
from .assessment import Assessment
from .classification import BoneStatus
from .duration import stopped_denosumab
from .medication_bone_loss import medication_bone_loss
from .recommendation import ORAL_BISPHOSPHONATE_ORDERS, Evidence, Indicator, Link, Recommendation

FRAX_US_URL = "https://frax.shef.ac.uk/FRAX/tool.aspx?country=9"


def _threshold(a: Assessment, kind: FraxKind) -> float:
    th = a.thresholds
    if kind is FraxKind.HIP:
        return th.frax_hip_treatment_percent
    return th.frax_major_osteoporotic_treatment_percent


def _old_result(a: Assessment, risk: FraxRisk) -> str:
    limit = _threshold(a, risk.kind)
    side = "at or above" if risk.percent >= limit else "below"
    return (
        f"{risk.kind.value} {wording.number(risk.percent)} %, {side} the "
        f"{wording.number(limit)} % threshold then"
    )


def fracture_risk_not_assessed(a: Assessment) -> Recommendation | None:
    c = a.classification
    if not a.low_bone_mass or c.status is not BoneStatus.OSTEOPENIA:
        return None
    if a.on_osteoporosis_therapy or c.fragility_fractures or a.decisive_frax:
        return None
    if a.last_dxa is None:
        return None  # the DXA comes first; R6 asks for it
    th = a.thresholds
    # FRAX is not calibrated below 40 (e.g. a 35-year-old after premature menopause)
    if a.eligibility.age is None or a.eligibility.age < th.frax_min_age_years:
        return None
    # After denosumab a follow-on bisphosphonate is needed whatever the FRAX (R7 warns):
    # "treatment depends on fracture risk" would contradict it
    if stopped_denosumab(a) is not None:
        return None
    # R8 (ACR 2022 for glucocorticoids, Hadji 2017 or ASCO 2019 for cancer therapies) has
    # already decided on treatment: asking for a FRAX "to decide" would contradict it
    r8 = medication_bone_loss(a)
    if r8 is not None and set(ORAL_BISPHOSPHONATE_ORDERS) & set(r8.orders):
        return None
    old = sorted(a.latest_frax.values(), key=lambda r: r.kind.value)
    evidence = list(c.evidence())
    if old:
        when = wording.day(max(r.source.date for r in old if r.source.date))
        summary = f"{c.headline}: FRAX of {when} is out of date; recalculate fracture risk"
        first = (
            f"The last FRAX, of {when}, no longer describes the patient: "
            + "; ".join(_old_result(a, r) for r in old)
            + ". Recalculate it before deciding on drug treatment."
        )
        evidence += [
            Evidence(
                f"FRAX 10-year {r.kind.value} fracture risk",
                f"{wording.number(r.percent)} %",
                r.source.date,
                r.source.reference,
            )
            for r in old
        ]
    else:
        summary = f"{c.headline}: calculate 10-year fracture risk (FRAX) to decide on treatment"
        first = f"No FRAX result within the past {wording.number(th.frax_recency_years)} years."
    return Recommendation(
        rule_id="R5",
        indicator=Indicator.INFO,
        summary=wording.shorten(summary),
        advice=(
            first,
            "**Treatment depends on fracture risk, not on bone density alone**: with "
            "osteopenia, drug treatment is indicated at a 10-year major osteoporotic fracture "
            f"risk ≥ {wording.number(th.frax_major_osteoporotic_treatment_percent)} % or a hip "
            f"fracture risk ≥ {wording.number(th.frax_hip_treatment_percent)} % {{{{BHOF2022}}}}.",
            "Use the US FRAX tool {{FRAX}}, valid for untreated patients aged 40 to 90, with "
            "the femoral-neck BMD, and record the result as LOINC 90265-0 and 90266-8.",
        ),
        evidence=tuple(evidence),
        references=("BHOF2022",),
        links=(Link("Calculate FRAX 10-year fracture risk (US)", FRAX_US_URL),),
    )
