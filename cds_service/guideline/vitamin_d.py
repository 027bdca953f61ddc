"""R3: 25-hydroxyvitamin D below target, or not measured within the past year."""

from __future__ import annotations

from fhir_mappings.facts import DiagnosisKind, DrugClass, VitaminDLevel

from . import wording
from .assessment import Assessment
from .classification import current_diagnosis
from .recommendation import Evidence, Indicator, OrderKind, Recommendation, SelectionBehavior
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


def vitamin_d_card(a: Assessment) -> Recommendation | None:
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
    level = a.latest_vitamin_d
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
    common = (
        "Correcting vitamin D deficiency can improve bone density, and it must be corrected "
        "before zoledronic acid or denosumab (risk of hypocalcaemia)."
    )
    if level is None:
        return Recommendation(
            rule_id="R3",
            indicator=Indicator.INFO,
            summary=wording.shorten(
                f"No 25(OH)D result in the past year ({why}): order a 25-hydroxyvitamin D level"
            ),
            advice=(
                f"There is no 25-hydroxyvitamin D result within the past "
                f"{th.vitamin_d_recency_days} days. With {why}, measure it: the target is "
                f"≥ {target} ng/mL ({th.vitamin_d_target_ng_ml * NMOL_PER_NG:.0f} nmol/L).",
                common,
            ),
            evidence=deficiency_evidence,
            references=("IOM2011", "BHOF2022"),
            orders=(OrderKind.VITAMIN_D_TEST,),
            selection_behavior=SelectionBehavior.ANY,
        )
    if not below_target(level, th.vitamin_d_target_ng_ml):
        return None
    on_vitamin_d = bool(current_episodes(a.facts, {DrugClass.VITAMIN_D}, a.as_of, th))
    severe = level.ng_per_ml < th.vitamin_d_severe_ng_ml and (level.comparator or "") not in (
        ">",
        ">=",
    )
    if on_vitamin_d:
        action = "review vitamin D dose and adherence"
    elif severe:
        action = "replete vitamin D, then 800 IU daily"
    else:
        action = "start vitamin D3 800 IU daily"
    shown = result_text(level, th.vitamin_d_target_ng_ml)
    advice = [
        f"The latest 25-hydroxyvitamin D is **{shown}** on "
        f"{wording.day(level.source.date)}, below the target of ≥ {target} ng/mL.",
    ]
    note = _conversion_note(level, th.vitamin_d_target_ng_ml)
    if note:
        advice.append(note)
    advice.extend(_analyte_notes(a, level))
    advice += [
        (
            "The patient already takes vitamin D: review the dose and adherence, and consider a "
            "higher dose."
            if on_vitamin_d
            else "Start cholecalciferol (vitamin D3) 800 IU daily; recheck the level in about "
            "3 months."
        ),
        common,
    ]
    if severe:
        # the draft is a maintenance dose; a severely deficient patient needs repletion first
        advice.insert(
            -1,
            f"Below {wording.number(th.vitamin_d_severe_ng_ml)} ng/mL the deficiency is severe "
            "(IOM 2011): 800 IU daily is a maintenance dose, so adjust the draft to a repletion "
            "course before maintenance, and check serum calcium.",
        )
    return Recommendation(
        rule_id="R3",
        indicator=Indicator.WARNING,
        summary=wording.shorten(
            f"25(OH)D {shown}, {wording.day(level.source.date)}, is below the "
            f"{target} ng/mL target: {action}"
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
        references=("IOM2011", "BHOF2022"),
        orders=() if on_vitamin_d else (OrderKind.CHOLECALCIFEROL,),
        selection_behavior=None if on_vitamin_d else SelectionBehavior.ANY,
    )


def suggests_cholecalciferol(a: Assessment) -> bool:
    """Whether R3 will offer the vitamin D3 order (then R2 leaves it out: one order, one card)."""
    card = vitamin_d_card(a)
    return card is not None and OrderKind.CHOLECALCIFEROL in card.orders
