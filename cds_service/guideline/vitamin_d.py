"""R3: 25-hydroxyvitamin D below target, or not measured within the past year."""

from __future__ import annotations

from datetime import date

from fhir_mappings.facts import DiagnosisKind, DrugClass, VitaminDLevel

from . import wording
from .assessment import Assessment
from .classification import current_diagnosis
from .recommendation import (
    AdviceTopic,
    Claim,
    Evidence,
    Indicator,
    OrderKind,
    Recommendation,
    SelectionBehavior,
)
from .therapy import current_episodes

NMOL_PER_NG = 2.496


def below_target(level: VitaminDLevel, target_ng_ml: float) -> bool:
    """True only when the result shows the level is below target ("<8" is; "<100" is not)."""
    value, comparator = level.ng_per_ml, (level.comparator or "").strip()
    if comparator in ("", "="):
        return value < target_ng_ml
    if comparator == "<":
        return value <= target_ng_ml
    if comparator == "<=":
        return value < target_ng_ml
    return False  # ">" or ">=": at least the value, never shown to be low


def _converted(level: VitaminDLevel, target: float | None) -> str:
    """ng/mL to one decimal, never rounded onto the other side of the target."""
    below = None if target is None else (lambda v: v < target)
    return wording.decimals(level.ng_per_ml, 1, below)


def result_text(level: VitaminDLevel, target: float | None = None) -> str:
    """``45 nmol/L (= 18.0 ng/mL)`` or ``<8 ng/mL``: the value as reported, then converted."""
    comparator = (level.comparator or "").strip()
    if comparator == "=":
        comparator = ""
    reported = f"{comparator}{wording.number(level.original_value)} {level.original_unit}".strip()
    if level.original_unit.replace(" ", "").lower() in ("ng/ml", "ug/l", "µg/l", "mcg/l"):
        return reported
    return f"{reported} (= {comparator}{_converted(level, target)} ng/mL)"


def _conversion_note(level: VitaminDLevel, target: float | None = None) -> str | None:
    unit = level.original_unit.replace(" ", "").lower()
    if unit in ("nmol/l", "umol/m3"):
        return (
            f"Converted: {wording.number(level.original_value)} nmol/L ÷ {NMOL_PER_NG} = "
            f"{_converted(level, target)} ng/mL."
        )
    return None


D3_ONLY_CODES = frozenset({"1989-3", "14635-7"})


def _analyte_notes(a: Assessment, level: VitaminDLevel) -> list[str]:
    notes = []
    if level.ambiguous_analyte:
        notes.append(
            f"The result is coded LOINC {level.code} (25-hydroxycalciferol), whose analyte is "
            "ambiguous; confirm it is total 25(OH)D."
        )
    if level.code in D3_ONLY_CODES:
        takes_d2 = any(
            "ergocalciferol" in e.ingredient
            for e in current_episodes(a.facts, {DrugClass.VITAMIN_D}, a.as_of, a.thresholds)
        )
        if takes_d2:
            notes.append(
                "The result measures 25(OH)D3 only; with ergocalciferol (D2) it under-reports "
                "total vitamin D: measure total 25(OH)D (LOINC 62292-8)."
            )
    return notes


def latest_ever(a: Assessment) -> VitaminDLevel | None:
    """The latest dated 25(OH)D on record, however old (the re-testing policy needs it)."""
    dated = [v for v in a.facts.vitamin_d if v.source.date is not None and v.source.date <= a.as_of]
    return max(dated, key=lambda v: v.source.date or date.min) if dated else None


def _severe(level: VitaminDLevel, limit: float) -> bool:
    return level.ng_per_ml < limit and (level.comparator or "") not in (">", ">=")


def vitamin_d_card(a: Assessment) -> Recommendation | None:
    """R3 by level (Endocrine Society 2011 for treatment, 2024 for testing; clinical-spec §0.3).

    Below target: a repletion course (50,000 IU weekly for 8 weeks) then 1,500–2,000 IU daily;
    below 12 ng/mL also the osteomalacia labs. A 25(OH)D is ordered only when none is on record,
    or when the last was below target and 3 months have passed without a recheck: never a
    yearly re-test of a replete patient.
    """
    if not a.eligibility.adult_rules:
        return None
    th = a.thresholds
    deficiency = next(
        (
            d
            for d in a.facts.diagnoses
            if d.kind is DiagnosisKind.VITAMIN_D_DEFICIENCY and current_diagnosis(d, a.as_of)
        ),
        None,
    )
    if not a.classification.low_bone_mass and deficiency is None:
        return None
    level = latest_ever(a)
    target = wording.number(th.vitamin_d_target_ng_ml)
    why = (
        a.classification.status.value if a.classification.low_bone_mass else "vitamin D deficiency"
    )
    deficiency_evidence = (
        ()
        if deficiency is None
        else (
            Evidence(
                f"Diagnosis: {deficiency.source.display or 'vitamin D deficiency'}",
                wording.code(deficiency.system, deficiency.code),
                deficiency.source.date,
                deficiency.source.reference,
            ),
        )
    )
    if level is None:
        return Recommendation(
            rule_id="R3",
            indicator=Indicator.INFO,
            summary=wording.shorten(
                f"No 25(OH)D result on record ({why}): order a 25-hydroxyvitamin D level"
            ),
            advice=(
                f"There is no 25-hydroxyvitamin D result on record. With {why}, measure it once: "
                f"the target is ≥ {target} ng/mL "
                f"({th.vitamin_d_target_ng_ml * NMOL_PER_NG:.0f} nmol/L) {{{{DEMAY2024}}}}. "
                "Correcting a deficiency must precede zoledronic acid or denosumab (risk of "
                "hypocalcaemia).",
            ),
            evidence=deficiency_evidence,
            references=("DEMAY2024", "IOM2011"),
            orders=(OrderKind.VITAMIN_D_TEST,),
            selection_behavior=SelectionBehavior.ANY,
        )
    if not below_target(level, th.vitamin_d_target_ng_ml):
        return None  # replete: no card, and no yearly re-test (Endocrine Society 2024)
    on_vitamin_d = bool(current_episodes(a.facts, {DrugClass.VITAMIN_D}, a.as_of, th))
    severe = _severe(level, th.vitamin_d_severe_ng_ml)
    age_days = (a.as_of - (level.source.date or a.as_of)).days
    recheck = age_days >= th.vitamin_d_recheck_days
    shown = result_text(level, th.vitamin_d_target_ng_ml)
    advice = [
        f"The latest 25-hydroxyvitamin D is **{shown}** on "
        f"{wording.day(level.source.date)}, below the target of ≥ {target} ng/mL.",
    ]
    note = _conversion_note(level, th.vitamin_d_target_ng_ml)
    if note:
        advice.append(note)
    advice.extend(_analyte_notes(a, level))
    orders: list[OrderKind] = []
    if on_vitamin_d:
        action = "review vitamin D dose and adherence"
        advice.append(
            "The patient already takes vitamin D: review the dose and adherence; below target a "
            "repletion course (50,000 IU weekly for 8 weeks, or 6,000 IU daily) then 1,500–2,000 "
            "IU daily is the Endocrine Society dose {{HOLICK2011}}."
        )
    else:
        action = "replete 50,000 IU weekly × 8 weeks, then 1,500–2,000 IU daily"
        advice.append(
            "**Replete**: cholecalciferol 50,000 IU once weekly for 8 weeks (or 6,000 IU "
            "daily), then maintenance 1,500–2,000 IU daily, rather than 800 IU {{HOLICK2011}}. "
            "Correcting the deficiency must precede zoledronic acid or denosumab (risk of "
            "hypocalcaemia)."
        )
        orders.append(OrderKind.VITAMIN_D_REPLETION)
    if severe:
        action = "osteomalacia labs; " + action
        advice.append(
            f"Below {wording.number(th.vitamin_d_severe_ng_ml)} ng/mL: check calcium, phosphate, "
            "alkaline phosphatase and PTH to exclude osteomalacia before any antiresorptive "
            "{{HOLICK2011}}."
        )
        orders.append(OrderKind.BONE_MINERAL_LABS)
    if recheck:
        action = f"recheck 25(OH)D ({age_days // 30} months old); " + action
        advice.append(
            f"The result is {age_days} days old and has not been rechecked: measure 25(OH)D "
            "again (3 months after starting treatment is when a recheck tells) {{DEMAY2024}}."
        )
        orders.insert(0, OrderKind.VITAMIN_D_TEST)
    else:
        advice.append("Recheck 25(OH)D about 3 months after starting treatment.")
    return Recommendation(
        rule_id="R3",
        indicator=Indicator.WARNING,
        summary=wording.shorten(
            f"25(OH)D {shown}, {wording.day(level.source.date)}, below the {target} ng/mL "
            f"target: {action}"
        ),
        advice=tuple(advice),
        evidence=(
            Evidence(
                "25-hydroxyvitamin D",
                shown,
                level.source.date,
                level.source.reference,
            ),
            *deficiency_evidence,
        ),
        references=("HOLICK2011", "DEMAY2024"),
        orders=tuple(orders),
        selection_behavior=SelectionBehavior.ANY if orders else None,
        # below target the repletion dose is the response's only vitamin D dose
        claims=(Claim(AdviceTopic.VITAMIN_D_DOSE, "the vitamin D card"),),
    )


def suggests_cholecalciferol(a: Assessment) -> bool:
    """Whether R3 will offer a vitamin D3 order (then R2 leaves its 800 IU out: one vitamin D
    order per response)."""
    card = vitamin_d_card(a)
    return card is not None and bool(
        {OrderKind.CHOLECALCIFEROL, OrderKind.VITAMIN_D_REPLETION} & set(card.orders)
    )
