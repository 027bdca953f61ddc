"""Who needs a secondary-cause work-up (clinical-spec §0.3): a Z-score at or below −2.0, a man
with osteoporosis, or a fragility fracture with normal bone density. R4 says so when it speaks;
otherwise R1 gives it an info card of its own."""

from __future__ import annotations

from fhir_mappings.facts import ScoreKind, Sex

from . import wording
from .assessment import Assessment
from .classification import BoneStatus, diagnostic_lowest, group_studies, status_of_t
from .recommendation import Indicator, Recommendation
from .shared_advice import FALLS

WORK_UP = (
    "calcium, PTH, TSH, serum protein electrophoresis, coeliac serology, 24-hour urine calcium"
)


def secondary_cause_reasons(a: Assessment) -> list[str]:
    if not a.eligibility.adult_rules:
        return []
    th, c = a.thresholds, a.classification
    reasons: list[str] = []
    z_scores = [
        s
        for s in a.facts.bone_density_scores
        if s.kind is ScoreKind.Z and (s.source.date is None or s.source.date <= a.as_of)
    ]
    studies = group_studies(z_scores, th.dxa_study_window_days)
    lowest_z = diagnostic_lowest(studies[0]) if studies else None
    if lowest_z is not None and lowest_z.value <= th.z_score_low_max:
        reasons.append(
            f"Z-score {wording.score(lowest_z.value)} at the {lowest_z.site.value}, "
            f"{wording.day(lowest_z.source.date)}"
        )
    if a.facts.sex is Sex.MALE and c.status is BoneStatus.OSTEOPOROSIS:
        reasons.append("osteoporosis in a man")
    if (
        c.fragility_fractures
        and c.score is not None
        and status_of_t(c.score.value, th) is BoneStatus.NORMAL
    ):
        reasons.append("a fragility fracture with normal bone density")
    return reasons


def work_up_advice(reasons: list[str]) -> str:
    return (
        f"**Secondary causes** ({'; '.join(reasons)}): evaluate with {WORK_UP}"
        "; testosterone in men {{BHOF2022}}."
    )


def secondary_cause_card(a: Assessment) -> Recommendation | None:
    """R1's second kind of card: the work-up when R4 does not speak to carry it."""
    if a.on_osteoporosis_therapy:
        return None  # the work-up belongs to the decision to treat, taken before therapy began
    reasons = secondary_cause_reasons(a)
    if not reasons:
        return None
    from .treatment import treatment_indicated  # R4 carries the work-up when it speaks

    if treatment_indicated(a) is not None:
        return None
    advice = [work_up_advice(reasons)]
    if any("fracture" in reason for reason in reasons):
        advice.append(FALLS)
    evidence = list(a.classification.evidence())
    return Recommendation(
        rule_id="R1",
        indicator=Indicator.INFO,
        summary=wording.shorten(f"Evaluate secondary causes of bone loss ({'; '.join(reasons)})"),
        advice=tuple(advice),
        evidence=tuple(evidence),
        references=("ISCD2023", "BHOF2022"),
    )
