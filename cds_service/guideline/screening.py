"""R10: osteoporosis screening (USPSTF 2025) for adults with no DXA ever on record.

Women from 65 are screened. A postmenopausal woman under 65 (a recorded menopause, or aged 52
or more) is screened when she has a risk factor (parental hip fracture, current smoking, excess
alcohol, low body weight as CMS249 counts it, a BMI of 20 or less, or 90 days of
glucocorticoids) and a risk tool says so (FRAX major
osteoporotic without BMD ≥ 8.4 %, or OST < 2); with a risk factor and no tool result the card
asks for the estimate first. Women 50-64 without a risk factor get nothing (CMS249: a DXA then
is not appropriate use), nor do men unless a deployment turns on screening from 70.
"""

from __future__ import annotations

from dataclasses import dataclass

from fhir_mappings.facts import DiagnosisKind, DrugClass, FraxKind, Sex, SmokingStatus

from . import wording
from .assessment import Assessment
from .classification import OSTEOPOROSIS_DIAGNOSES, known
from .frax_assessment import FRAX_US_URL
from .gates import unreadable_line
from .recommendation import (
    Evidence,
    Indicator,
    Link,
    OrderKind,
    Reason,
    Recommendation,
    SelectionBehavior,
)
from .therapy import OSTEOPOROSIS_THERAPY, episode_spans, episodes, exposure_days

SCREENING_REASON = Reason("Osteoporosis screening, USPSTF 2025")


@dataclass(frozen=True, slots=True)
class RiskFactor:
    text: str
    evidence: Evidence


def _risk_factors(a: Assessment) -> list[RiskFactor]:
    facts, th = a.facts, a.thresholds
    found: list[RiskFactor] = []
    parent = next(
        (
            d
            for d in facts.diagnoses
            if d.kind is DiagnosisKind.PARENT_HIP_FRACTURE and known(d.source.date, a.as_of)
        ),
        None,
    )
    if parent is not None:
        found.append(
            RiskFactor(
                "parental hip fracture",
                Evidence(
                    "Parental hip fracture",
                    wording.code(parent.system, parent.code),
                    parent.source.date,
                    parent.source.reference,
                ),
            )
        )
    if facts.smoking is not None and facts.smoking.status is SmokingStatus.CURRENT:
        found.append(
            RiskFactor(
                "current smoking",
                Evidence(
                    "Smoking status",
                    "current smoker",
                    facts.smoking.source.date,
                    facts.smoking.source.reference,
                ),
            )
        )
    alcohol = facts.alcohol
    if alcohol is not None and alcohol.drinks_per_day > th.alcohol_excess_drinks_per_day:
        found.append(
            RiskFactor(
                "excess alcohol",
                Evidence(
                    "Alcohol intake",
                    f"{wording.number(facts.alcohol.drinks_per_day)} drinks/day",
                    facts.alcohol.source.date,
                    facts.alcohol.source.reference,
                ),
            )
        )
    bmi = facts.body_mass_index
    if bmi is not None and bmi.kg_per_m2 <= th.screening_low_bmi_max:
        found.append(
            RiskFactor(
                "low body weight",
                Evidence(
                    "Body mass index",
                    f"{wording.number(bmi.kg_per_m2)} kg/m²",
                    bmi.source.date,
                    bmi.source.reference,
                ),
            )
        )
    steroids = episodes(facts, {DrugClass.GLUCOCORTICOID})
    spans = [sp for e in steroids for sp in episode_spans(e, a.as_of, th)]
    # CMS249 counts 90 cumulative days or more; a short burst is not a risk factor
    if exposure_days(spans, a.as_of) >= th.glucocorticoid_min_days:
        period = max((p for e in steroids for p in e.periods), key=lambda p: p.start)
        found.append(
            RiskFactor(
                "glucocorticoids",
                Evidence(
                    "Glucocorticoid", steroids[0].ingredient, period.start, period.source.reference
                ),
            )
        )
    return found


def _unreadable_bmi(a: Assessment) -> tuple[str, ...]:
    """A BMI that could not be read is named where low body weight would have counted."""
    return tuple(
        unreadable_line(u, "body mass index")
        for u in a.facts.unreadable
        if u.what == "Body mass index"
    )


def _never_assessed(a: Assessment) -> bool:
    """No DXA ever, no osteoporosis diagnosis or fragility fracture, no osteoporosis drug."""
    facts = a.facts
    if facts.dxa_events or facts.bone_density_scores:
        return False
    if any(
        d.kind in OSTEOPOROSIS_DIAGNOSES and known(d.source.date, a.as_of) for d in facts.diagnoses
    ):
        return False
    if a.classification.fragility_fractures or a.classification.low_bone_mass:
        return False  # R4 and R6 speak for these patients
    return not episodes(facts, OSTEOPOROSIS_THERAPY)


def _card(a: Assessment, summary: str, advice: tuple[str, ...], evidence, order: bool):
    return Recommendation(
        rule_id="R10",
        indicator=Indicator.INFO,
        summary=wording.shorten(summary),
        advice=advice,
        evidence=tuple(evidence),
        references=("USPSTF2025",),
        orders=(OrderKind.DXA,) if order else (),
        selection_behavior=SelectionBehavior.ANY if order else None,
        reason=SCREENING_REASON if order else None,
        links=() if order else (Link("Estimate fracture risk with FRAX (US)", FRAX_US_URL),),
    )


def osteoporosis_screening(a: Assessment) -> Recommendation | None:
    th, age, sex = a.thresholds, a.eligibility.age, a.facts.sex
    if age is None or age < th.minimum_age_years or a.eligibility.prematurity is not None:
        return None
    if not _never_assessed(a):
        return None
    screen = (
        "Screening with a DXA of the lumbar spine and hip prevents hip and major osteoporotic "
        "fractures {{USPSTF2025}}."
    )
    if sex is Sex.FEMALE and age >= th.screening_women_min_age_years:
        return _card(
            a,
            f"Osteoporosis screening due: woman aged {age}, no DXA on record",
            (
                f"No bone density study is on record. Every woman aged "
                f"{th.screening_women_min_age_years} or more should be screened for "
                "osteoporosis. " + screen,
            ),
            (),
            order=True,
        )
    if sex is Sex.MALE:
        if th.screening_men_enabled and age >= th.screening_men_min_age_years:
            return _card(
                a,
                f"Osteoporosis screening: man aged {age}, no DXA on record",
                (
                    f"No bone density study is on record. This service is set to offer a DXA "
                    f"to men from {th.screening_men_min_age_years} {{{{BHOF2022}}}}; USPSTF 2025 "
                    "finds the evidence for screening men insufficient {{USPSTF2025}}.",
                ),
                (),
                order=True,
            )
        return None
    if sex is not Sex.FEMALE:
        return None
    postmenopausal = a.eligibility.menopause is not None or age >= th.postmenopausal_age_years
    factors = _risk_factors(a)
    if not postmenopausal or not factors:
        return None  # CMS249: no DXA for women under 65 without a risk factor
    named = ", ".join(f.text for f in factors)
    evidence = [f.evidence for f in factors]
    frax = next((r for r in reversed(a.facts.frax) if r.kind is FraxKind.MAJOR_OSTEOPOROTIC), None)
    ost = next((r for r in reversed(a.facts.risk_tools) if r.tool == "OST"), None)
    if frax is None and ost is None:
        return _card(
            a,
            f"Postmenopausal woman aged {age} with {named}: estimate fracture risk, FRAX "
            "without BMD",
            (
                f"A postmenopausal woman under {th.screening_women_min_age_years} with a risk "
                f"factor, {named}, is screened when a risk tool shows increased risk "
                "{{USPSTF2025}}. Estimate it with FRAX without BMD: a 10-year major "
                "osteoporotic fracture risk ≥ "
                f"{wording.number(th.screening_frax_major_without_bmd_percent)} % calls for a "
                f"DXA; or with OST, a score below {wording.number(th.screening_ost_below)}.",
                *_unreadable_bmi(a),
            ),
            evidence,
            order=False,
        )
    above = []
    if frax is not None:
        evidence.append(
            Evidence(
                "FRAX 10-year major osteoporotic fracture risk",
                f"{wording.number(frax.percent)} %",
                frax.source.date,
                frax.source.reference,
            )
        )
        if frax.percent >= th.screening_frax_major_without_bmd_percent:
            above.append(f"FRAX major {wording.number(frax.percent)} %")
    if ost is not None:
        evidence.append(
            Evidence("OST score", wording.number(ost.score), ost.source.date, ost.source.reference)
        )
        if ost.score < th.screening_ost_below:
            above.append(f"OST {wording.number(ost.score)}")
    if not above:
        return None  # the tool found no increased risk
    return _card(
        a,
        f"Osteoporosis screening due: postmenopausal, {named}; {', '.join(above)}",
        (
            f"A postmenopausal woman under {th.screening_women_min_age_years} with {named} and "
            f"a risk tool above its threshold, {', '.join(above)}, should be screened. " + screen,
            *_unreadable_bmi(a),
        ),
        evidence,
        order=True,
    )
