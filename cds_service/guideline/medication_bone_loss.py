"""R8: medication-induced bone loss, three rules under one id (clinical-spec §0.3).

1. Glucocorticoids (ACR 2022) for every adult, with or without a DXA: 2.5 mg/day or more of
   prednisone equivalents for 3 months or more, replacement doses in adrenal insufficiency left
   out; the dose shown, calcium and vitamin D, a DXA draft unless one was done in the 12 months
   before the course or since, FRAX adjusted for dose from 40, the ACR risk category and, from
   moderate, an oral bisphosphonate through the safety gates. Never "stop the steroid".
2. Cancer therapies, with or without a DXA: aromatase inhibitors (Hadji 2017) and androgen
   deprivation (ASCO 2019), each with its own treatment criteria; baseline DXA, then every 1–2
   years. Never advise reviewing or stopping the cancer therapy.
3. Other bone-loss medicines, with low bone mass: name them and review whether each is needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from fhir_mappings.facts import (
    BoneMineralDensity,
    DiagnosisKind,
    DrugClass,
    DxaSite,
    FraxKind,
    Laterality,
    ScoreKind,
    Sex,
    SmokingStatus,
    TherapyEpisode,
)

from . import wording
from .assessment import Assessment
from .classification import diagnostic_lowest, group_studies
from .dates import add_months
from .eligibility import Population
from .gates import gate_drafts
from .glucocorticoid_course import (
    Course,
    cumulative_g_last_year,
    current_course,
    high_dose_days,
)
from .recommendation import (
    ORAL_BISPHOSPHONATE_ORDERS,
    AdviceTopic,
    Claim,
    Deferral,
    Evidence,
    Indicator,
    OrderKind,
    Reason,
    Recommendation,
    SelectionBehavior,
)
from .therapy import current_episodes
from .vitamin_d import suggests_cholecalciferol


@dataclass(slots=True)
class _Card:
    summary: list[str]
    advice: list[str]
    evidence: list[Evidence]
    orders: list[OrderKind]
    treat: bool = False
    references: tuple[str, ...] = ()
    reason: Reason | None = None  # the DXA draft's reasonCode
    claims: tuple[Claim, ...] = ()
    deferrals: tuple[Deferral, ...] = ()


def _lowest_t(a: Assessment) -> float | None:
    """The lowest T of the latest DXA: ACR 2022 uses it from 40, menopause or not."""
    score = a.classification.score
    if score is not None:
        return score.value
    t_scores = [
        s
        for s in a.facts.bone_density_scores
        if s.kind is ScoreKind.T and (s.source.date is None or s.source.date <= a.as_of)
    ]
    studies = group_studies(t_scores, a.thresholds.dxa_study_window_days)
    lowest = diagnostic_lowest(studies[0]) if studies else None
    return None if lowest is None else lowest.value


def _prior_fracture(a: Assessment) -> bool:
    return bool(a.classification.fragility_fractures) or any(
        f.is_fragility and (f.onset or f.source.date or a.as_of) <= a.as_of
        for f in a.facts.fractures
    )


def _period_evidence(name: str, start: date, reference: str, detail: str) -> Evidence:
    return Evidence(name, detail, start, reference)


def _dxa_since(a: Assessment, since: date) -> bool:
    last = a.last_dxa
    return last is not None and last.date >= since


def _adjusted_frax(a: Assessment, mg: float | None) -> tuple[float | None, float | None, str]:
    th = a.thresholds
    mof = a.recent_frax.get(FraxKind.MAJOR_OSTEOPOROTIC)
    hip = a.recent_frax.get(FraxKind.HIP)
    adjust = mg is not None and mg > th.glucocorticoid_frax_adjust_mg
    mof_value = None if mof is None else mof.percent * (1.15 if adjust else 1.0)
    hip_value = None if hip is None else hip.percent * (1.2 if adjust else 1.0)
    note = ", adjusted for the dose: MOF × 1.15, hip × 1.2" if adjust else ""
    return mof_value, hip_value, note


def _band_reasons(
    t: float | None,
    mof: float | None,
    hip: float | None,
    note: str,
    limits: tuple[float, float, float],
    hip_strictly_above: bool = False,
) -> list[str]:
    """The T-score and dose-adjusted FRAX values that reach one ACR 2022 band: T at or below
    its limit, MOF and hip at or above theirs (the moderate band's hip: above)."""
    t_max, mof_min, hip_min = limits
    why: list[str] = []
    if t is not None and t <= t_max:
        why.append(f"T {wording.score(t)}")
    if mof is not None and mof >= mof_min:
        why.append(f"FRAX MOF {wording.decimals(mof, 1)} %{note}")
    if hip is not None and (hip > hip_min if hip_strictly_above else hip >= hip_min):
        why.append(f"FRAX hip {wording.decimals(hip, 1)} %{note}")
    return why


def acr_category(a: Assessment, course: Course) -> tuple[str, list[str]]:
    """ACR 2022 category for adults 40 and over: very high, high, moderate or low, with why."""
    th = a.thresholds
    mg = course.prednisone_mg
    t = _lowest_t(a)
    mof, hip, note = _adjusted_frax(a, mg)
    why: list[str] = []
    if _prior_fracture(a):
        why.append("a prior osteoporotic fracture")
    why += _band_reasons(
        t,
        mof,
        hip,
        note,
        (
            th.acr_very_high_t_score_max,
            th.acr_very_high_frax_mof_percent,
            th.acr_very_high_frax_hip_percent,
        ),
    )
    if high_dose_days(a, course, th.glucocorticoid_very_high_mg) > 30:
        why.append(
            f"{wording.number(th.glucocorticoid_very_high_mg)} mg/day or more for over 30 days"
        )
    if cumulative_g_last_year(a, course) >= th.glucocorticoid_very_high_cumulative_g:
        why.append(
            f"{wording.number(th.glucocorticoid_very_high_cumulative_g)} g or more in a year"
        )
    if why:
        return "very high", why
    high = (th.t_score_osteoporosis_max, th.acr_high_frax_mof_percent, th.acr_high_frax_hip_percent)
    why = _band_reasons(t, mof, hip, note, high)
    if why:
        return "high", why
    moderate = (
        th.t_score_normal_min,
        th.acr_moderate_frax_mof_percent,
        th.acr_moderate_frax_hip_percent,
    )
    why = _band_reasons(t, mof, hip, note, moderate, hip_strictly_above=True)
    if why:
        return "moderate", why
    if t is None and mof is None and hip is None:
        return "unknown", []
    return "low", []


def _dose_text(course: Course) -> str:
    dose = course.current.dose
    if dose is None or dose.prednisone_mg_per_day is None:
        how = (
            "dose not recorded"
            if dose is None or dose.readable
            else f"dose could not be read: {dose.how}"
        )
        return f"{course.ingredient}, {how}"
    own = f"{course.ingredient} {wording.number(dose.mg_per_day or 0)} mg/day"
    if course.ingredient in ("prednisone", "prednisolone"):
        return own
    return f"{own} (prednisone-equivalent {wording.decimals(dose.prednisone_mg_per_day, 1)} mg/day)"


def _missing_supplements(a: Assessment) -> list[OrderKind]:
    """Calcium and vitamin D drafts when none is taken (as O6 offers them on the order hook);
    no 800 IU draft beside R3's repletion course."""
    th = a.thresholds
    missing = []
    if not current_episodes(a.facts, {DrugClass.CALCIUM}, a.as_of, th):
        missing.append(OrderKind.CALCIUM)
    if not current_episodes(a.facts, {DrugClass.VITAMIN_D}, a.as_of, th) and not (
        suggests_cholecalciferol(a)
    ):
        missing.append(OrderKind.CHOLECALCIFEROL)
    return missing


def _glucocorticoid(a: Assessment, card: _Card) -> None:
    th = a.thresholds
    age = a.eligibility.age
    if age is None or age < th.minimum_age_years or a.eligibility.prematurity is not None:
        return
    course = current_course(a)
    if course is None or max(course.days, course.expected_days) < th.glucocorticoid_min_days:
        return
    mg = course.prednisone_mg
    if mg is not None and mg < th.glucocorticoid_min_prednisone_mg:
        return
    dose = _dose_text(course)
    card.summary.append(f"Glucocorticoid {dose}, since {wording.day(course.start)}")
    first = len(card.summary) - 1
    card.references += ("ACR2022",)
    opening = (
        f"**Glucocorticoid-induced osteoporosis** {{{{ACR2022}}}}: {dose}, course since "
        f"{wording.day(course.start)} ({course.days} days). Keep the lowest effective "
        "glucocorticoid dose; ensure calcium 800–1,000 mg and vitamin D "
    )
    card.advice.append(opening + "600–800 IU daily.")
    # ACR 2022's calcium and vitamin D are the response's amounts (R2 defers to them), except
    # below the vitamin D target, where the repletion card gives the vitamin D dose
    here = "the glucocorticoid card"
    card.claims = (Claim(AdviceTopic.CALCIUM_DOSE, here), Claim(AdviceTopic.VITAMIN_D_DOSE, here))
    card.deferrals = (
        Deferral(
            AdviceTopic.VITAMIN_D_DOSE,
            opening + "600–800 IU daily.",
            opening.removesuffix(" and vitamin D ") + " daily; vitamin D as on {card}.",
        ),
    )
    card.orders += _missing_supplements(a)
    card.evidence.append(
        _period_evidence(
            f"{course.ingredient.capitalize()} (glucocorticoid)",
            course.current.start,
            course.current.source.reference,
            dose,
        )
    )
    young = age < th.acr_min_frax_age_years
    dxa_wanted = not _dxa_since(a, add_months(course.start, -th.glucocorticoid_dxa_prior_months))
    # under 40, a prior fracture and 6 months at the dose decide both the DXA and the treatment
    fractured = young and _prior_fracture(a)
    on_dose = young and high_dose_days(a, course, th.acr_young_dxa_dose_mg) >= 182
    if young:
        dxa_wanted = dxa_wanted and (on_dose or fractured)
    if dxa_wanted:
        card.advice.append(
            "DXA with vertebral fracture assessment: none in the 12 months before the course "
            "or since (draft offered)."
        )
        card.orders.append(OrderKind.DXA)
        card.summary[first] += ": DXA with VFA"
        card.reason = Reason(f"Glucocorticoid therapy since {wording.day(course.start)} (ACR 2022)")
    if young:
        z = _lowest_z(a)
        young_why: list[str] = []
        if fractured or (z is not None and z <= -3.0):
            young_why.append("prior fracture" if fractured else "Z-score ≤ −3.0")
            card.treat = True
            card.advice.append(
                "Under 40, ACR 2022 treats a prior osteoporotic fracture or a Z-score at or below "
                "−3.0: an oral bisphosphonate is offered through the safety checks."
            )
        loss = _rapid_bone_loss(a)
        if loss is not None and on_dose:
            earlier, later, percent = loss
            young_why.append("rapid bone loss")
            card.treat = True
            card.advice.append(
                f"Rapid bone loss on {wording.number(th.acr_young_dxa_dose_mg)} mg/day or more "
                f"for 6 months: {later.site} BMD {earlier.g_per_cm2:.3f} → {later.g_per_cm2:.3f} "
                f"g/cm² ({wording.day(earlier.source.date)} to {wording.day(later.source.date)}, "
                f"−{percent:.1f} %). Under 40, ACR 2022 treats a loss of "
                f"{wording.number(th.acr_young_rapid_loss_percent)} % or more within a year: an "
                "oral bisphosphonate is offered through the safety checks."
            )
            card.evidence += [
                Evidence(
                    f"DXA BMD, {m.site}",
                    f"{m.g_per_cm2:.3f} g/cm²",
                    m.source.date,
                    m.source.reference,
                )
                for m in (earlier, later)
            ]
        if young_why:
            card.summary[first] += f"{', ' if dxa_wanted else ': '}{', '.join(young_why)}, treat"
        return
    category, why = acr_category(a, course)
    if category == "unknown":
        card.advice.append(
            "From 40, assess fracture risk with FRAX adjusted for the glucocorticoid dose "
            "(above 7.5 mg/day: major osteoporotic fracture × 1.15, hip × 1.2) and a DXA."
        )
        return
    card.advice.append(
        f"ACR 2022 risk category: **{category}**" + (f" ({'; '.join(why)})." if why else ".")
    )
    if category in ("very high", "high", "moderate"):
        card.treat = True
        card.summary[first] += f"{', ' if dxa_wanted else ': '}{category} risk, treat"
        if category == "very high":
            card.advice.append(
                "Very high risk: an anabolic (teriparatide or abaloparatide) is conditionally "
                "preferred; refer to a bone specialist. An oral bisphosphonate can start meanwhile."
            )


_CENTRAL_SITES = (DxaSite.LUMBAR_SPINE, DxaSite.TOTAL_HIP, DxaSite.FEMORAL_NECK)


def _rapid_bone_loss(
    a: Assessment,
) -> tuple[BoneMineralDensity, BoneMineralDensity, float] | None:
    """ACR 2022 under 40: the latest spine or hip BMD against the highest at the same site and
    side in the year before it, when it fell by the set share or more (the largest fall if
    several sites did). One pass per site: a chart with many results costs no more."""
    th = a.thresholds
    groups: dict[tuple[DxaSite, Laterality], list[BoneMineralDensity]] = {}
    for m in a.facts.bone_mineral_density:  # chronological
        if m.site in _CENTRAL_SITES and m.source.date is not None:
            groups.setdefault((m.site, m.laterality), []).append(m)
    best: tuple[BoneMineralDensity, BoneMineralDensity, float] | None = None
    for measurements in groups.values():
        later = measurements[-1]
        later_day = later.source.date or a.as_of  # every grouped result is dated
        window_start = later_day - timedelta(days=th.acr_young_rapid_loss_days)
        earlier = [
            m
            for m in measurements
            if m.source.date is not None and window_start <= m.source.date < later_day
        ]
        if not earlier:
            continue
        peak = max(earlier, key=lambda m: m.g_per_cm2)
        # rounded so that 1.000 → 0.900 g/cm² is the 10 % it reads as, not 9.999…
        percent = round((peak.g_per_cm2 - later.g_per_cm2) / peak.g_per_cm2 * 100, 6)
        if percent >= th.acr_young_rapid_loss_percent and (best is None or percent > best[2]):
            best = (peak, later, percent)
    return best


def _lowest_z(a: Assessment) -> float | None:
    z_scores = [s for s in a.facts.bone_density_scores if s.kind is ScoreKind.Z]
    studies = group_studies(z_scores, a.thresholds.dxa_study_window_days)
    lowest = diagnostic_lowest(studies[0]) if studies else None
    return None if lowest is None else lowest.value


def _hadji_risk_factors(a: Assessment) -> list[str]:
    """Hadji 2017 risk factors other than the T-score: age over 65, a BMI below 20, parental
    hip fracture, a fragility fracture after 50, oral glucocorticoids over 6 months, and
    smoking, current or past."""
    found = []
    if (a.eligibility.age or 0) > 65:
        found.append("age over 65")
    smoking = a.facts.smoking.status if a.facts.smoking is not None else None
    if smoking is SmokingStatus.CURRENT:
        found.append("current smoking")
    elif smoking is SmokingStatus.FORMER:
        found.append("former smoking")
    bmi = a.facts.body_mass_index
    if bmi is not None and bmi.kg_per_m2 < a.thresholds.aromatase_inhibitor_bmi_below:
        found.append(f"BMI {wording.number(bmi.kg_per_m2)} kg/m²")
    if any(d.kind is DiagnosisKind.PARENT_HIP_FRACTURE for d in a.facts.diagnoses):
        found.append("parental hip fracture")
    if a.classification.fragility_fractures:
        found.append("fragility fracture after 50")
    course = current_course(a)
    if course is not None and course.days > 182:
        found.append("oral glucocorticoids over 6 months")
    return found


def _cancer(a: Assessment, card: _Card, therapy: TherapyEpisode) -> None:
    th = a.thresholds
    t = _lowest_t(a)
    start = min(p.start for p in therapy.periods)
    name = therapy.ingredient
    if therapy.drug_class is DrugClass.AROMATASE_INHIBITOR:
        source, ref = "Hadji 2017", "HADJI2017"
        factors = _hadji_risk_factors(a)
        treat = (
            (t is not None and t < th.aromatase_inhibitor_t_score_max)
            or (t is not None and t < th.aromatase_inhibitor_t_score_with_risk_factor and factors)
            or len(factors) >= 2
        )
        criteria = (
            f"an antiresorptive when T < {wording.number(th.aromatase_inhibitor_t_score_max)}, "
            f"or T < {wording.number(th.aromatase_inhibitor_t_score_with_risk_factor)} with one "
            "risk factor, or with two or more risk factors"
            + (f" (found: {', '.join(factors)})" if factors else "")
        )
    else:
        factors = []
        source, ref = "ASCO 2019", "ASCO2019"
        mof = a.recent_frax.get(FraxKind.MAJOR_OSTEOPOROTIC)
        hip = a.recent_frax.get(FraxKind.HIP)
        treat = bool(
            (t is not None and t <= th.t_score_osteoporosis_max)
            or (mof is not None and mof.percent >= th.frax_major_osteoporotic_treatment_percent)
            or (hip is not None and hip.percent >= th.frax_hip_treatment_percent)
        )
        criteria = (
            "an antiresorptive when T ≤ −2.5 or FRAX at the treatment thresholds "
            f"({wording.number(th.frax_major_osteoporotic_treatment_percent)} % major, "
            f"{wording.number(th.frax_hip_treatment_percent)} % hip)"
        )
    card.references += (ref,)
    dxa_due = not _dxa_since(a, add_months(a.as_of, -24))
    card.summary.append(
        f"{name.capitalize()} ({therapy.drug_class.value} since {wording.day(start)}): "
        + ("DXA due, " if dxa_due else "")
        + "calcium and vitamin D"
    )
    card.advice.append(
        f"**{name.capitalize()}** ({therapy.drug_class.value}) since {wording.day(start)}: "
        f"baseline DXA, then every 1–2 years while on therapy; calcium and vitamin D. {source} "
        f"{{{{{ref}}}}}: {criteria}."
    )
    card.evidence.append(
        _period_evidence(
            f"{name.capitalize()} ({therapy.drug_class.value})",
            start,
            therapy.periods[-1].source.reference,
            f"since {wording.day(start)}",
        )
    )
    bmi = a.facts.body_mass_index
    if bmi is not None and any(f.startswith("BMI ") for f in factors):
        card.evidence.append(
            Evidence(
                "Body mass index",
                f"{wording.number(bmi.kg_per_m2)} kg/m²",
                bmi.source.date,
                bmi.source.reference,
            )
        )
    if dxa_due and OrderKind.DXA not in card.orders:
        card.orders.append(OrderKind.DXA)
        card.reason = card.reason or Reason(
            f"Baseline DXA on {therapy.drug_class.value} since {wording.day(start)} ({source})"
        )
    if treat:
        card.treat = True
        card.summary[-1] += ": treat"


def medication_bone_loss(a: Assessment) -> Recommendation | None:
    if a.eligibility.population not in (Population.ADULT, Population.YOUNGER_ADULT):
        return None
    th = a.thresholds
    card = _Card([], [], [], [])
    _glucocorticoid(a, card)
    current = current_episodes(
        a.facts,
        {DrugClass.AROMATASE_INHIBITOR, DrugClass.ANDROGEN_DEPRIVATION, DrugClass.OTHER_BONE_LOSS},
        a.as_of,
        th,
    )
    # Hadji 2017 is about women on an aromatase inhibitor, ASCO 2019's ADT criteria about men;
    # anyone else on these drugs is on "another bone-loss medicine"
    cancer_path = {
        Sex.FEMALE: DrugClass.AROMATASE_INHIBITOR,
        Sex.MALE: DrugClass.ANDROGEN_DEPRIVATION,
    }
    for therapy in current:
        if therapy.drug_class is cancer_path.get(a.facts.sex):
            _cancer(a, card, therapy)
    others = [e for e in current if e.drug_class is not cancer_path.get(a.facts.sex)]
    if others and a.low_bone_mass:
        names = ", ".join(sorted({e.ingredient for e in others}))
        card.summary.append(f"{names}: review the need")
        card.advice.append(
            f"Other medicines that cause bone loss: **{names}**. Bone density may improve when "
            "they are stopped or reduced: review whether each is still needed."
        )
        for episode in others:
            period = episode.periods[-1]
            card.evidence.append(
                _period_evidence(
                    f"{episode.ingredient.capitalize()} (bone-loss medicine)",
                    period.start,
                    period.source.reference,
                    "current",
                )
            )
    if not card.summary:
        return None
    orders = list(card.orders)
    companions: tuple[OrderKind, ...] = ()
    if card.treat:
        from .treatment import treatment_indicated  # R4 owns the drug drafts when it speaks

        if treatment_indicated(a) is None:
            gated = gate_drafts(a, ORAL_BISPHOSPHONATE_ORDERS)
            # one bisphosphonate draft (the first the gates allow), so that it can sit beside
            # the DXA draft under "any" without offering two bisphosphonates at once
            orders += [o for o in gated.orders if o in ORAL_BISPHOSPHONATE_ORDERS][:1]
            companions = gated.companions
            card.advice += list(gated.advice)
            card.evidence += [e for e in gated.evidence if e not in card.evidence]
        else:
            card.advice.append("Treatment: see the treatment card.")
    return Recommendation(
        rule_id="R8",
        indicator=Indicator.INFO,
        summary=wording.shorten("; ".join(card.summary)),
        advice=tuple(card.advice),
        evidence=tuple(card.evidence),
        references=card.references or ("ACR2022",),
        orders=tuple(orders),
        companion_orders=companions,
        selection_behavior=SelectionBehavior.ANY if orders else None,
        reason=card.reason,
        claims=card.claims,
        deferrals=card.deferrals,
    )
