"""R4: pharmacologic treatment indicated (BHOF 2022 thresholds; ACP 2023 first line)."""

from __future__ import annotations

from dataclasses import dataclass

from fhir_mappings.facts import DiagnosisKind, DrugClass, FraxKind, FraxRisk, Sex

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
from .gates import Gate, GatedDrafts, gate_drafts
from .recommendation import Evidence, Indicator, OrderKind, Recommendation, SelectionBehavior
from .secondary_causes import secondary_cause_reasons, work_up_advice
from .therapy import episodes
from .vitamin_d import below_target


@dataclass(frozen=True, slots=True)
class Criterion:
    short: str  # for the summary: "FRAX hip 3.3 %, 2024-03-02"
    sentence: str  # for the detail
    evidence: tuple[Evidence, ...]


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
    mof = a.recent_frax.get(FraxKind.MAJOR_OSTEOPOROTIC)
    if mof is not None and mof.percent >= th.frax_major_osteoporotic_treatment_percent:
        found.append(
            Criterion(
                f"FRAX major {wording.number(mof.percent)} %, {wording.day(mof.source.date)}",
                f"10-year major osteoporotic fracture risk {wording.number(mof.percent)} % "
                f"(threshold {wording.number(th.frax_major_osteoporotic_treatment_percent)} %)",
                (_frax_evidence(mof),),
            )
        )
    hip = a.recent_frax.get(FraxKind.HIP)
    if hip is not None and hip.percent >= th.frax_hip_treatment_percent:
        found.append(
            Criterion(
                f"FRAX hip {wording.number(hip.percent)} %, {wording.day(hip.source.date)}",
                f"10-year hip fracture risk {wording.number(hip.percent)} % "
                f"(threshold {wording.number(th.frax_hip_treatment_percent)} %)",
                (_frax_evidence(hip),),
            )
        )
    return found


def premature_menopause(a: Assessment):
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


def _action(gated: GatedDrafts) -> str:
    """The summary's recommendation once the gates have spoken."""
    offered = [k.value for k in gated.orders if k in (OrderKind.ALENDRONATE, OrderKind.RISEDRONATE)]
    gates = {f.gate for f in gated.held}
    if len(offered) == 2:
        return "offer an oral bisphosphonate (alendronate or risedronate)"
    if offered:
        return f"offer {offered[0]} ({'kidney limit' if Gate.KIDNEY in gates else 'see detail'})"
    if Gate.KIDNEY in gates:
        return "kidney function rules out bisphosphonates: evaluate CKD–MBD first"
    if Gate.CALCIUM in gates:
        return "low calcium: correct it before any antiresorptive"
    if Gate.VITAMIN_D in gates:
        return "replete vitamin D first, then start treatment"
    if Gate.ORAL_ROUTE in gates:
        return "oral route unsuitable: consider zoledronic acid or denosumab"
    return "see detail"


def treatment_indicated(a: Assessment) -> Recommendation | None:
    if not a.low_bone_mass or a.on_osteoporosis_therapy:
        return None
    from .duration import follow_on_due  # R7 owns the follow-on after denosumab or an anabolic

    if follow_on_due(a):
        return None
    criteria = treatment_criteria(a)
    if not criteria:
        return None
    th = a.thresholds
    gated = gate_drafts(a, (OrderKind.ALENDRONATE, OrderKind.RISEDRONATE))
    action = _action(gated)
    poi = premature_menopause(a)
    if poi is not None:
        action = "hormone therapy first (premature menopause)"
    # name two criteria when they fit; never cut the recommendation itself off the summary
    for shown in (2, 1):
        shorts = "; ".join(c.short for c in criteria[:shown])
        summary = f"Treatment indicated ({shorts}): {action}"
        if len(summary) < 140:
            break
    summary = wording.shorten(summary)
    advice = []
    if poi is not None:
        advice.append(
            "**Premature or early menopause under 50:** hormone therapy until about the average "
            "age of menopause is first line for bone protection unless contraindicated "
            "(ESHRE/ASRM/IMS POI guideline 2024; NAMS 2022). Bisphosphonates stay in bone for "
            "years: avoid them in a woman who may become pregnant."
        )
    advice += [
        "Drug treatment to reduce fracture risk is indicated. Criteria met:",
        *(f"- {c.sentence}" for c in criteria),
        "",
        "**First line is an oral bisphosphonate**: alendronate 70 mg once weekly or risedronate "
        "35 mg once weekly (ACP 2023). Bisphosphonates stabilise or increase bone density in most "
        "patients and cut fracture risk by about 50 %. In advanced osteopenia, risedronate "
        "reduced fragility fractures by 73 % versus placebo over 1.5–3 years (post-hoc analysis).",
        *gated.advice,
        "Take oral bisphosphonates with a full glass of water before breakfast and stay upright "
        "for 30 minutes; they are unsuitable with oesophageal stricture or achalasia, inability "
        "to stay upright, or Roux-en-Y gastric bypass: then use zoledronic acid or denosumab.",
        f"Thresholds: 10-year major osteoporotic fracture risk ≥ "
        f"{wording.number(th.frax_major_osteoporotic_treatment_percent)} % or hip fracture risk ≥ "
        f"{wording.number(th.frax_hip_treatment_percent)} % (BHOF 2022, US FRAX), a fragility "
        "fracture, or osteoporosis.",
    ]
    reasons = secondary_cause_reasons(a)
    if reasons:
        advice.append(work_up_advice(reasons))
    vit_d = a.latest_vitamin_d
    if (
        vit_d is not None
        and below_target(vit_d, th.vitamin_d_target_ng_ml)
        and not any(f.gate is Gate.VITAMIN_D for f in gated.held)
        and not any("below target" in line or "loading dose" in line for line in gated.advice)
    ):
        advice.append(
            "25(OH)D is below target: correct vitamin D deficiency alongside, and before any "
            "zoledronic acid or denosumab."
        )
    if episodes(a.facts, {DrugClass.ANABOLIC}):
        advice.append(
            "Anabolic therapy (teriparatide, abaloparatide or romosozumab) has ended: follow it "
            "with an antiresorptive without delay to keep the gain in bone density."
        )
    # Denosumab no longer covering today but not yet overdue (R7 speaks after that): the
    # choice is a transition, not a first treatment.
    if episodes(a.facts, {DrugClass.DENOSUMAB}):
        advice.append(
            "This is a **transition after denosumab**, not a first treatment: give the next "
            "denosumab injection or start the bisphosphonate now, without a gap, to prevent "
            "rebound bone loss and vertebral fractures."
        )
    evidence: list[Evidence] = []
    for criterion in criteria:
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
    return Recommendation(
        rule_id="R4",
        indicator=Indicator.WARNING,
        summary=summary,
        advice=tuple(advice),
        evidence=tuple(evidence),
        references=("BHOF2022", "ACP2023", "AACE2020", "SEED3", "SEED5"),
        orders=gated.orders,
        companion_orders=gated.companions,
        selection_behavior=SelectionBehavior.AT_MOST_ONE if gated.orders else None,
        override_reasons=(
            "patient-declines",
            "contraindication",
            "treated-elsewhere",
            "correct-first",
            "specialist",
        ),
        lifelong_note=True,
    )
