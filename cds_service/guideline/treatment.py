"""R4: pharmacologic treatment indicated (BHOF 2022 thresholds; ACP 2023 first line), and
very high fracture risk (AACE 2020), which calls for anabolic-first therapy or zoledronic acid
and a referral."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from fhir_mappings.facts import (
    Diagnosis,
    DiagnosisKind,
    DrugClass,
    FractureSite,
    FraxKind,
    FraxRisk,
    Sex,
)

from . import wording
from .assessment import Assessment
from .classification import (
    Basis,
    BoneStatus,
    current_diagnosis,
    fracture_evidence,
    fracture_phrase,
    score_evidence,
)
from .dates import add_months
from .gates import Gate, GatedDrafts, gate_drafts
from .recommendation import (
    ORAL_BISPHOSPHONATE_ORDERS,
    Evidence,
    Indicator,
    OrderKind,
    Recommendation,
    SelectionBehavior,
)
from .secondary_causes import secondary_cause_reasons, work_up_advice
from .shared_advice import FALLS
from .therapy import episodes


@dataclass(frozen=True, slots=True)
class Criterion:
    short: str  # for the summary: "FRAX hip 3.3 %, 2024-03-02"
    sentence: str  # for the detail
    evidence: tuple[Evidence, ...]
    frax: bool = False  # a FRAX threshold is the trigger: the card then states the thresholds


def _frax_evidence(risk: FraxRisk) -> Evidence:
    return Evidence(
        f"FRAX 10-year {risk.kind.value} fracture risk",
        f"{wording.number(risk.percent)} %",
        risk.source.date,
        risk.source.reference,
    )


def treatment_criteria(a: Assessment) -> list[Criterion]:
    """The R4 criteria met, strongest first (also used by R6 to judge "higher risk")."""
    th, c = a.thresholds, a.classification
    found: list[Criterion] = []
    if c.fragility_fractures:
        fracture = c.fragility_fractures[0]
        found.append(
            Criterion(
                fracture_phrase(fracture),
                "a fragility fracture history, which indicates treatment regardless of FRAX or "
                "bone density",
                tuple(fracture_evidence(f) for f in c.fragility_fractures),
            )
        )
    if c.status is BoneStatus.OSTEOPOROSIS and c.basis is not Basis.FRAGILITY_FRACTURE:
        if c.basis is Basis.T_SCORE and c.score is not None:
            short = f"T {wording.score(c.score.value, c.t_class)}, {c.score.site.value}"
            evidence: tuple[Evidence, ...] = (score_evidence(c.score, "Lowest T-score", c.t_class),)
        elif c.basis is Basis.PRIOR_T_SCORE and c.prior_score is not None:
            short = f"earlier T {wording.score(c.prior_score.value, c.t_class)}"
            evidence = (score_evidence(c.prior_score, "Earlier T-score", c.t_class),)
        elif c.diagnosis is not None:
            coded = wording.code(c.diagnosis.system, c.diagnosis.code)
            short = f"osteoporosis {coded}, {wording.day(c.diagnosis.source.date)}"
            evidence = c.evidence()
        else:
            short = "osteoporosis"
            evidence = c.evidence()
        found.append(
            Criterion(
                short,
                f"osteoporosis (T-score at or below "
                f"{wording.number(th.t_score_osteoporosis_max)}, or diagnosed)",
                evidence,
            )
        )
    mof = a.decisive_frax.get(FraxKind.MAJOR_OSTEOPOROTIC)
    if mof is not None and mof.percent >= th.frax_major_osteoporotic_treatment_percent:
        found.append(
            Criterion(
                f"FRAX major {wording.number(mof.percent)} %, {wording.day(mof.source.date)}",
                f"10-year major osteoporotic fracture risk {wording.number(mof.percent)} % "
                f"(threshold {wording.number(th.frax_major_osteoporotic_treatment_percent)} %)",
                (_frax_evidence(mof),),
                frax=True,
            )
        )
    hip = a.decisive_frax.get(FraxKind.HIP)
    if hip is not None and hip.percent >= th.frax_hip_treatment_percent:
        found.append(
            Criterion(
                f"FRAX hip {wording.number(hip.percent)} %, {wording.day(hip.source.date)}",
                f"10-year hip fracture risk {wording.number(hip.percent)} % "
                f"(threshold {wording.number(th.frax_hip_treatment_percent)} %)",
                (_frax_evidence(hip),),
                frax=True,
            )
        )
    return found


def very_high_risk_criteria(a: Assessment) -> list[Criterion]:
    """AACE 2020 very high risk: a recent or a second fragility fracture, T below −3.0, or FRAX
    above the very-high thresholds (boundaries as in thresholds.json: the limits themselves are
    not very high risk; a fracture exactly 12 months ago still is recent)."""
    th, c = a.thresholds, a.classification
    found: list[Criterion] = []
    since = add_months(a.as_of, -th.very_high_risk_recent_fracture_months)
    recent = [f for f in c.fragility_fractures if (f.onset or f.source.date or date.min) >= since]
    if recent:
        months = th.very_high_risk_recent_fracture_months
        found.append(
            Criterion(
                f"{fracture_phrase(recent[0])}",
                f"a fragility fracture within {months} months: {fracture_phrase(recent[0])}",
                tuple(fracture_evidence(f) for f in recent),
            )
        )
    if len(c.fragility_fractures) >= 2:
        found.append(
            Criterion(
                f"{len(c.fragility_fractures)} fragility fractures",
                f"{len(c.fragility_fractures)} fragility fractures",
                tuple(fracture_evidence(f) for f in c.fragility_fractures),
            )
        )
    if c.score is not None and c.score.value < th.very_high_risk_t_score_below:
        found.append(
            Criterion(
                f"T {wording.score(c.score.value, c.t_class)}",
                f"T-score {wording.score(c.score.value, c.t_class)} at the "
                f"{c.score.site.value}, below {wording.number(th.very_high_risk_t_score_below)}",
                (score_evidence(c.score, "Lowest T-score", c.t_class),),
            )
        )
    mof = a.decisive_frax.get(FraxKind.MAJOR_OSTEOPOROTIC)
    if mof is not None and mof.percent > th.very_high_risk_frax_major_percent:
        found.append(
            Criterion(
                f"FRAX major {wording.number(mof.percent)} %",
                f"10-year major osteoporotic fracture risk {wording.number(mof.percent)} %, "
                f"above {wording.number(th.very_high_risk_frax_major_percent)} %",
                (_frax_evidence(mof),),
                frax=True,
            )
        )
    hip = a.decisive_frax.get(FraxKind.HIP)
    if hip is not None and hip.percent > th.very_high_risk_frax_hip_percent:
        found.append(
            Criterion(
                f"FRAX hip {wording.number(hip.percent)} %",
                f"10-year hip fracture risk {wording.number(hip.percent)} %, above "
                f"{wording.number(th.very_high_risk_frax_hip_percent)} %",
                (_frax_evidence(hip),),
                frax=True,
            )
        )
    return found


def _summary(start: str, criteria: list[Criterion], action: str) -> str:
    """Name two criteria when they fit; never cut the recommendation itself off the summary."""
    for shown in (2, 1):
        summary = f"{start} ({'; '.join(c.short for c in criteria[:shown])}): {action}"
        if len(summary) < 140:
            return summary
    return wording.shorten(f"{start}: {action}")


def _hip_fracture_recently(a: Assessment) -> bool:
    since = add_months(a.as_of, -a.thresholds.very_high_risk_recent_fracture_months)
    return any(
        f.site is FractureSite.HIP and (f.onset or f.source.date or date.min) >= since
        for f in a.classification.fragility_fractures
    )


def _very_high_advice(a: Assessment, very_high: list[Criterion]) -> list[str]:
    advice = [
        "**Very high fracture risk** {{AACE2020}}:",
        *(f"- {c.sentence}" for c in very_high),
        "",
        "Prefer **anabolic therapy first**: teriparatide, abaloparatide or romosozumab, then "
        "an antiresorptive {{AACE2020}} {{ACP2023}}; or **zoledronic acid**. Refer to an "
        "osteoporosis, fracture liaison or endocrinology service; an oral bisphosphonate may "
        "start meanwhile.",
    ]
    if _hip_fracture_recently(a):
        advice.append(
            "After hip fracture repair, yearly zoledronic acid 5 mg cut new clinical fractures by "
            "35 % and deaths by 28 % in HORIZON-RFT {{HORIZON_RFT}}."
        )
    advice.append(FALLS)
    return advice


def premature_menopause(a: Assessment) -> Diagnosis | None:
    """A woman under 50 with premature or early menopause or POI (clinical-spec §0.3)."""
    age = a.eligibility.age
    if a.facts.sex is not Sex.FEMALE or age is None:
        return None
    if age >= a.thresholds.premature_menopause_max_age_years:
        return None
    return next(
        (
            d
            for d in a.facts.diagnoses
            if d.kind is DiagnosisKind.PREMATURE_MENOPAUSE and current_diagnosis(d, a.as_of)
        ),
        None,
    )


def _gated_action(gated: GatedDrafts, action: str) -> str:
    """The summary's recommendation once the gates have held drug drafts back."""
    offered = [k.value for k in gated.orders if k in ORAL_BISPHOSPHONATE_ORDERS]
    gates = {f.gate for f in gated.held}
    if not gates:
        return action
    if offered:
        return f"offer {' or '.join(offered)} (" + ", ".join(g.value for g in gates) + " limits)"
    if Gate.KIDNEY in gates:
        return "kidney function rules out bisphosphonates: evaluate CKD–MBD first"
    if Gate.CALCIUM in gates:
        return "low calcium: correct it before any antiresorptive"
    if Gate.VITAMIN_D in gates:
        return "replete vitamin D first, then start treatment"
    if Gate.ORAL_ROUTE in gates:
        return "oral route unsuitable: consider zoledronic acid or denosumab"
    return action


def treatment_indicated(a: Assessment) -> Recommendation | None:
    if not a.low_bone_mass or a.on_osteoporosis_therapy:
        return None
    from .duration import follow_on_due  # R7 owns the follow-on after denosumab or an anabolic

    if follow_on_due(a):
        return None
    criteria = treatment_criteria(a)
    very_high = very_high_risk_criteria(a)
    if not criteria and not very_high:
        return None
    th = a.thresholds
    gated = gate_drafts(a, (OrderKind.ALENDRONATE,) if very_high else ORAL_BISPHOSPHONATE_ORDERS)
    if very_high and not gated.orders:
        # one oral bridge is enough beside the referral, but where the kidneys allow only
        # risedronate (clearance 30-34) it is the bridge, with alendronate's hold explained
        with_risedronate = gate_drafts(a, ORAL_BISPHOSPHONATE_ORDERS)
        if OrderKind.RISEDRONATE in with_risedronate.orders:
            gated = with_risedronate
    poi = premature_menopause(a)
    if very_high:
        summary = _summary(
            "Very high fracture risk",
            very_high,
            "anabolic first or zoledronic acid; refer",
        )
        advice = _very_high_advice(a, very_high)
    else:
        action = _gated_action(gated, "offer an oral bisphosphonate, alendronate or risedronate")
        if poi is not None:
            action = "hormone therapy first (premature menopause)"
        summary = _summary("Treatment indicated", criteria, action)
        advice = [
            "Drug treatment to reduce fracture risk is indicated. Criteria met:",
            *(f"- {c.sentence}" for c in criteria),
        ]
    oral_offered = any(k in gated.orders for k in ORAL_BISPHOSPHONATE_ORDERS)
    if very_high:
        lead = "Meanwhile, or if anabolic therapy is not possible, an oral bisphosphonate"
    elif poi is not None:
        lead = "If hormone therapy is contraindicated or declined: an oral bisphosphonate"
    elif not oral_offered:
        # the gates below say why no oral draft is offered: the card must not call it the plan
        lead = ""
    else:
        lead = "**First line is an oral bisphosphonate**"
    if a.facts.sex is Sex.MALE:
        effect = "In men the evidence for bisphosphonates is of low certainty {{ACP2023}}."
    else:
        effect = (
            "In postmenopausal women with osteoporosis, bisphosphonates reduce hip, clinical "
            "vertebral and other clinical fractures, moderate- to high-certainty evidence "
            "{{ACP2023_REVIEW}}."
        )
    advice += [
        "",
        (
            f"{lead}: alendronate 70 mg or risedronate 35 mg once weekly {{{{ACP2023}}}}. {effect}"
            if lead
            else "An oral bisphosphonate (alendronate 70 mg or risedronate 35 mg once weekly) is "
            "the usual first line {{ACP2023}}, but not for this patient now: no oral draft is "
            f"offered (below). {effect}"
        ),
    ]
    if a.classification.status is BoneStatus.OSTEOPENIA:
        advice.append(
            "With osteopenia, risedronate reduced fragility fractures by 73 % versus placebo "
            "over 1.5 to 3 years, a post-hoc analysis {{SIRIS2008}}."
        )
    if poi is not None:
        advice.insert(
            0,
            "**Premature or early menopause under 50:** hormone therapy until about the average "
            "age of menopause is first line for bone protection unless contraindicated "
            "{{POI2024}} {{NAMS2022}}. Bisphosphonates stay in bone for years: avoid them in a "
            "woman who may become pregnant.",
        )
    advice.extend(gated.advice)
    if oral_offered or (poi is not None and not gated.held):
        # the generic caveat only where an oral bisphosphonate is still on the table; a
        # specific contraindication or a gate holding every oral draft back has said more
        advice.append(
            "Oral bisphosphonates are unsuitable with oesophageal stricture or achalasia, "
            "inability to stay upright for 30 minutes after the dose, or Roux-en-Y gastric "
            "bypass: then use zoledronic acid or denosumab."
        )
    reasons = secondary_cause_reasons(a)
    if reasons:
        advice.append(work_up_advice(reasons))
    if any(c.frax for c in [*criteria, *very_high]):
        advice.append(
            f"Thresholds: with low bone mass, a 10-year major osteoporotic fracture risk ≥ "
            f"{wording.number(th.frax_major_osteoporotic_treatment_percent)} % or hip fracture "
            f"risk ≥ {wording.number(th.frax_hip_treatment_percent)} %, US FRAX {{{{BHOF2022}}}}."
        )
    # a 25(OH)D below target is R3's to speak of (its warning card carries the advice)
    if episodes(a.facts, {DrugClass.ANABOLIC}):
        advice.append(
            "Anabolic therapy has ended: follow it with an antiresorptive without delay to keep "
            "the gain in bone density."
        )
    # Any denosumab no longer covering today, also within the weeks before R7 calls it stopped
    # (the next injection merely late): the choice is a transition, not a first treatment.
    if episodes(a.facts, {DrugClass.DENOSUMAB}):
        advice.append(
            "This is a **transition after denosumab**, not a first treatment: give the next "
            "denosumab injection or start the bisphosphonate now, without a gap, to prevent "
            "rebound bone loss and vertebral fractures {{ECTS2021}}."
        )
    evidence: list[Evidence] = []
    for criterion in [*very_high, *criteria]:
        evidence.extend(e for e in criterion.evidence if e not in evidence)
    evidence.extend(e for e in gated.evidence if e not in evidence)
    if poi is not None:
        evidence.append(
            Evidence(
                f"Diagnosis: {poi.source.display or poi.kind.value}",
                wording.code(poi.system, poi.code),
                poi.source.date,
                poi.source.reference,
            )
        )
    if very_high:
        # the referral is the main action; one oral bisphosphonate may start meanwhile
        orders: tuple[OrderKind, ...] = (OrderKind.REFERRAL, *gated.orders)
        behavior = SelectionBehavior.ANY
    elif poi is not None:
        # hormone therapy comes first; a bisphosphonate is a specialist's choice in a woman
        # who may still conceive, not a one-click draft
        orders = ()
        behavior = SelectionBehavior.AT_MOST_ONE
    else:
        orders = gated.orders
        behavior = SelectionBehavior.AT_MOST_ONE
    return Recommendation(
        rule_id="R4",
        indicator=Indicator.WARNING,
        summary=summary,
        advice=tuple(advice),
        evidence=tuple(evidence),
        references=("AACE2020",) if very_high else ("BHOF2022",),
        orders=orders,
        companion_orders=gated.companions,
        selection_behavior=behavior if orders else None,
        override_reasons=(
            "patient-declines",
            "contraindication",
            "treated-elsewhere",
            "correct-first",
            "specialist",
        ),
        lifelong_note=True,
    )
