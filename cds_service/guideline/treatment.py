"""R4: pharmacologic treatment indicated (BHOF 2022 thresholds; ACP 2023 first line)."""

from __future__ import annotations

from dataclasses import dataclass

from fhir_mappings.facts import DrugClass, FraxKind, FraxRisk

from . import wording
from .assessment import Assessment
from .classification import Basis, BoneStatus, fracture_evidence, fracture_phrase, score_evidence
from .recommendation import Evidence, Indicator, OrderKind, Recommendation, SelectionBehavior
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


def treatment_indicated(a: Assessment) -> Recommendation | None:
    if not a.low_bone_mass or a.on_osteoporosis_therapy:
        return None
    criteria = treatment_criteria(a)
    if not criteria:
        return None
    th = a.thresholds
    # name two criteria when they fit; never cut the recommendation itself off the summary
    for shown in (2, 1):
        shorts = "; ".join(c.short for c in criteria[:shown])
        summary = (
            f"Treatment indicated ({shorts}): offer an oral bisphosphonate "
            "(alendronate or risedronate)"
        )
        if len(summary) < 140:
            break
    summary = wording.shorten(summary)
    advice = [
        "Drug treatment to reduce fracture risk is indicated. Criteria met:",
        *(f"- {c.sentence}" for c in criteria),
        "",
        "**First line is an oral bisphosphonate**: alendronate 70 mg once weekly or risedronate "
        "35 mg once weekly (ACP 2023). Bisphosphonates stabilise or increase bone density in most "
        "patients and cut fracture risk by about 50 %. In advanced osteopenia, risedronate "
        "reduced fragility fractures by 73 % versus placebo over 1.5–3 years (post-hoc analysis).",
        "Before starting: check serum calcium and renal function (avoid oral bisphosphonates if "
        "eGFR is below 30–35 mL/min), ask about oesophageal disease and whether the patient can "
        "stay upright for 30 minutes after the dose; take with a full glass of water before "
        "breakfast.",
        f"Thresholds: 10-year major osteoporotic fracture risk ≥ "
        f"{wording.number(th.frax_major_osteoporotic_treatment_percent)} % or hip fracture risk ≥ "
        f"{wording.number(th.frax_hip_treatment_percent)} % (BHOF 2022, US FRAX), a fragility "
        "fracture, or osteoporosis.",
    ]
    vit_d = a.latest_vitamin_d
    if vit_d is not None and below_target(vit_d, th.vitamin_d_target_ng_ml):
        advice.append(
            "25(OH)D is below target: correct vitamin D deficiency alongside, and before any "
            "zoledronic acid or denosumab."
        )
    if episodes(a.facts, {DrugClass.ANABOLIC}):
        advice.append(
            "Anabolic therapy (teriparatide, abaloparatide or romosozumab) has ended: follow it "
            "with an antiresorptive without delay to keep the gain in bone density."
        )
    # Any denosumab no longer covering today, also within the weeks before R7 calls it stopped
    # (the next injection merely late): the choice is a transition, not a first treatment.
    if episodes(a.facts, {DrugClass.DENOSUMAB}):
        advice.append(
            "This is a **transition after denosumab**, not a first treatment: give the next "
            "denosumab injection or start the bisphosphonate now, without a gap, to prevent "
            "rebound bone loss and vertebral fractures."
        )
    evidence: list[Evidence] = []
    for criterion in criteria:
        evidence.extend(e for e in criterion.evidence if e not in evidence)
    return Recommendation(
        rule_id="R4",
        indicator=Indicator.WARNING,
        summary=summary,
        advice=tuple(advice),
        evidence=tuple(evidence),
        references=("BHOF2022", "ACP2023", "AACE2020", "SEED3", "SEED5"),
        orders=(OrderKind.ALENDRONATE, OrderKind.RISEDRONATE),
        selection_behavior=SelectionBehavior.AT_MOST_ONE,
        override_reasons=(
            "patient-declines",
            "contraindication",
            "treated-elsewhere",
            "correct-first",
            "specialist",
        ),
        lifelong_note=True,
    )
