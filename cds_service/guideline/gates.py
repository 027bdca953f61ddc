"""Safety gates on every drug draft (clinical-spec §0.2): pure functions of the facts.

Each gate looks at one drug and says whether a one-click draft of it may be offered: kidney
function per drug label (on the lower of eGFR and creatinine clearance), CKD 4–5 and dialysis,
low calcium, severe vitamin D deficiency, oral-route contraindications and current therapy.
A finding carries the value, its date and what to do instead, so a card can say why a draft it
would have offered is not there. The order checks (order-select, order-sign) use the same
findings, so there is one implementation of each gate.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from fhir_mappings.facts import (
    CalciumKind,
    CalciumResult,
    Diagnosis,
    DiagnosisKind,
    DrugClass,
    FractureSite,
    KidneyFunction,
    KidneyMethod,
    UnreadableValue,
    VitaminDLevel,
)

from . import wording
from .assessment import Assessment
from .classification import current_diagnosis
from .recommendation import Evidence, OrderKind
from .thresholds import Thresholds
from .vitamin_d import result_text


class Drug(StrEnum):
    ALENDRONATE = "alendronate"
    RISEDRONATE = "risedronate"
    IBANDRONATE = "ibandronate"
    ZOLEDRONIC_ACID = "zoledronic acid"
    DENOSUMAB = "denosumab"


ORAL = frozenset({Drug.ALENDRONATE, Drug.RISEDRONATE, Drug.IBANDRONATE})
DRUG_OF_ORDER: dict[OrderKind, Drug] = {
    OrderKind.ALENDRONATE: Drug.ALENDRONATE,
    OrderKind.RISEDRONATE: Drug.RISEDRONATE,
}


class Gate(StrEnum):
    KIDNEY = "kidney function"
    CALCIUM = "calcium"
    VITAMIN_D = "vitamin D"
    ORAL_ROUTE = "oral route"
    ALREADY_TREATED = "current therapy"


@dataclass(frozen=True, slots=True)
class Finding:
    """Why one drug's draft is held back."""

    gate: Gate
    drug: Drug
    contraindicated: bool  # label contraindication (order checks: critical), else a caution
    reason: str  # with the value and its date
    instead: str  # what to do instead
    evidence: tuple[Evidence, ...] = ()


# --- kidney -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KidneyStatus:
    """The kidney results that decide: the latest eGFR and clearance within the window."""

    egfr: KidneyFunction | None
    clearance: KidneyFunction | None
    severe_ckd: Diagnosis | None
    dialysis: Diagnosis | None
    acute_injury: Diagnosis | None
    unreadable: tuple[UnreadableValue, ...]

    @property
    def lowest(self) -> KidneyFunction | None:
        found = [k for k in (self.egfr, self.clearance) if k is not None]
        return min(found, key=lambda k: k.value) if found else None

    @property
    def measured(self) -> bool:
        return self.egfr is not None or self.clearance is not None


def _within(on: date | None, as_of: date, days: int) -> bool:
    return on is not None and on <= as_of and (as_of - on).days <= days


def _latest(items: Iterable[KidneyFunction]) -> KidneyFunction | None:
    items = list(items)
    return max(items, key=lambda k: k.source.date or date.min) if items else None


def _current(a: Assessment, kind: DiagnosisKind) -> Diagnosis | None:
    found = [d for d in a.facts.diagnoses if d.kind is kind and current_diagnosis(d, a.as_of)]
    return max(found, key=lambda d: d.source.date or date.min) if found else None


def kidney_status(a: Assessment) -> KidneyStatus:
    days = a.thresholds.kidney_result_recency_days
    recent = [k for k in a.facts.kidney if _within(k.source.date, a.as_of, days)]
    egfr_reported = _latest(k for k in recent if k.method is KidneyMethod.EGFR_REPORTED)
    egfr_computed = _latest(k for k in recent if k.method is KidneyMethod.EGFR_CKD_EPI_2021)
    egfr = egfr_reported
    if egfr_computed is not None and (
        egfr is None or (egfr_computed.source.date or date.min) > (egfr.source.date or date.min)
    ):
        egfr = egfr_computed
    aki = _current(a, DiagnosisKind.ACUTE_KIDNEY_INJURY)
    if aki is not None and not _within(aki.source.date, a.as_of, days):
        aki = None  # an injury of years ago says nothing about the kidneys today
    return KidneyStatus(
        egfr=egfr,
        clearance=_latest(k for k in recent if k.method is KidneyMethod.CRCL_COCKCROFT_GAULT),
        severe_ckd=_current(a, DiagnosisKind.CKD_SEVERE),
        dialysis=_current(a, DiagnosisKind.DIALYSIS),
        acute_injury=aki,
        unreadable=tuple(
            u
            for u in a.facts.unreadable
            if u.what in ("eGFR", "creatinine") and _within(u.source.date, a.as_of, days)
        ),
    )


def kidney_limit(drug: Drug, th: Thresholds) -> float:
    return {
        Drug.ALENDRONATE: th.kidney_min_alendronate,
        Drug.RISEDRONATE: th.kidney_min_risedronate,
        Drug.IBANDRONATE: th.kidney_min_ibandronate,
        Drug.ZOLEDRONIC_ACID: th.kidney_min_zoledronic_acid,
        Drug.DENOSUMAB: th.kidney_min_denosumab,
    }[drug]


def kidney_text(result: KidneyFunction) -> str:
    """``eGFR 25 mL/min/1.73 m² (2026-10-01)`` with how it was obtained."""
    if result.method is KidneyMethod.CRCL_COCKCROFT_GAULT:
        value = f"creatinine clearance {wording.decimals(result.value, 1)} mL/min"
        how = f" (Cockcroft–Gault, weight {wording.number(result.weight_kg or 0)} kg)"
    elif result.method is KidneyMethod.EGFR_CKD_EPI_2021:
        value = f"eGFR {wording.decimals(result.value, 1)} mL/min/1.73 m²"
        how = " (computed from creatinine with CKD-EPI 2021, race-free)"
    else:
        value = f"eGFR {wording.number(result.value)} mL/min/1.73 m²"
        how = ""
    return f"{value}{how} on {wording.day(result.source.date)}"


def kidney_evidence(result: KidneyFunction) -> Evidence:
    label = {
        KidneyMethod.EGFR_REPORTED: "eGFR",
        KidneyMethod.EGFR_CKD_EPI_2021: "eGFR (CKD-EPI 2021 from creatinine)",
        KidneyMethod.CRCL_COCKCROFT_GAULT: "Creatinine clearance (Cockcroft–Gault)",
    }[result.method]
    unit = "mL/min" if result.method is KidneyMethod.CRCL_COCKCROFT_GAULT else "mL/min/1.73 m²"
    value = f"{wording.decimals(result.value, 1)} {unit}"
    if result.creatinine_mg_dl is not None:
        value += f" (creatinine {wording.decimals(result.creatinine_mg_dl, 2)} mg/dL)"
    return Evidence(label, value, result.source.date, result.source.reference)


def _diagnosis_evidence(d: Diagnosis) -> Evidence:
    return Evidence(
        f"Diagnosis: {d.source.display or d.kind.value}",
        wording.code(d.system, d.code),
        d.source.date,
        d.source.reference,
    )


CKD_MBD = (
    "evaluate for CKD–mineral and bone disorder with calcium, phosphate, PTH, alkaline "
    "phosphatase and 25(OH)D, and refer to nephrology or a bone specialist before any "
    "antiresorptive {{KDIGO2017}}"
)


def _newer_result_above(status: KidneyStatus, since: date | None, limit: float) -> bool:
    """Kidney results dated after the diagnosis, all at or above the limit, outweigh it."""
    if since is None:
        return False
    newer = [
        k
        for k in (status.egfr, status.clearance)
        if k is not None and (k.source.date or date.min) > since
    ]
    return bool(newer) and min(k.value for k in newer) >= limit


def kidney_finding(status: KidneyStatus, drug: Drug, th: Thresholds) -> Finding | None:
    limit = kidney_limit(drug, th)
    dialysis = status.dialysis
    if dialysis is not None:
        return Finding(
            Gate.KIDNEY,
            drug,
            drug is not Drug.DENOSUMAB,
            f"the patient is on dialysis ({wording.code(dialysis.system, dialysis.code)}, "
            f"{wording.day(dialysis.source.date)})"
            + (
                ": FDA boxed warning for severe hypocalcaemia with denosumab"
                if drug is Drug.DENOSUMAB
                else ""
            ),
            CKD_MBD,
            (_diagnosis_evidence(dialysis),),
        )
    ckd = status.severe_ckd
    if ckd is not None and not _newer_result_above(status, ckd.source.date, limit):
        return Finding(
            Gate.KIDNEY,
            drug,
            drug is not Drug.DENOSUMAB,
            f"chronic kidney disease stage 4–5 is recorded "
            f"({wording.code(ckd.system, ckd.code)}, {wording.day(ckd.source.date)})",
            CKD_MBD,
            (_diagnosis_evidence(ckd),),
        )
    if drug is Drug.ZOLEDRONIC_ACID and status.acute_injury is not None:
        aki = status.acute_injury
        return Finding(
            Gate.KIDNEY,
            drug,
            True,
            f"acute kidney injury ({wording.code(aki.system, aki.code)}, "
            f"{wording.day(aki.source.date)}) contraindicates zoledronic acid",
            "wait for kidney function to recover and recheck it",
            (_diagnosis_evidence(aki),),
        )
    lowest = status.lowest
    if lowest is None or lowest.value >= limit:
        return None
    if drug is Drug.DENOSUMAB:
        reason = (
            f"{kidney_text(lowest)} is below {wording.number(limit)}: FDA boxed warning for "
            "severe hypocalcaemia with denosumab in advanced kidney disease"
        )
    else:
        reason = f"{kidney_text(lowest)} is below {wording.number(limit)} ({drug.value} label)"
    return Finding(
        Gate.KIDNEY,
        drug,
        drug is not Drug.DENOSUMAB,
        reason,
        CKD_MBD,
        (kidney_evidence(lowest),),
    )


# --- calcium ------------------------------------------------------------------------------


def latest_calcium(a: Assessment) -> CalciumResult | None:
    recent = [
        c
        for c in a.facts.calcium
        if _within(c.source.date, a.as_of, a.thresholds.calcium_recency_days)
    ]
    if not recent:
        return None
    last_day = max(c.source.date or date.min for c in recent)
    same_day = [c for c in recent if c.source.date == last_day]
    low = [c for c in same_day if calcium_low(c, a.thresholds)]
    return (low or same_day)[-1]


def calcium_limit(result: CalciumResult, th: Thresholds) -> float:
    if result.kind is CalciumKind.IONIZED:
        if result.reference_low is not None:
            return result.reference_low
        return (
            th.calcium_ionized_low_mmol_l
            if result.unit == "mmol/L"
            else th.calcium_ionized_low_mg_dl
        )
    return (
        th.calcium_low_corrected_mmol_l
        if result.unit == "mmol/L"
        else th.calcium_low_corrected_mg_dl
    )


def calcium_low(result: CalciumResult, th: Thresholds) -> bool:
    return result.value < calcium_limit(result, th)


def calcium_text(result: CalciumResult) -> str:
    value = f"{wording.number(result.value)} {result.unit}"
    if result.kind is CalciumKind.IONIZED:
        return f"ionized calcium {value} on {wording.day(result.source.date)}"
    if result.corrected:
        return (
            f"corrected calcium {value} (measured {wording.number(result.measured)}, albumin "
            f"{wording.number(result.albumin_g_dl or 0)} g/dL) on {wording.day(result.source.date)}"
        )
    return f"calcium {value} (no albumin to correct it) on {wording.day(result.source.date)}"


def calcium_evidence(result: CalciumResult) -> Evidence:
    label = (
        "Ionized calcium"
        if result.kind is CalciumKind.IONIZED
        else ("Calcium, corrected for albumin" if result.corrected else "Calcium")
    )
    return Evidence(
        label,
        f"{wording.number(result.value)} {result.unit}",
        result.source.date,
        result.source.reference,
    )


def calcium_finding(a: Assessment, drug: Drug) -> Finding | None:
    result = latest_calcium(a)
    if result is None or not calcium_low(result, a.thresholds):
        return None
    limit = calcium_limit(result, a.thresholds)
    return Finding(
        Gate.CALCIUM,
        drug,
        True,
        f"{calcium_text(result)} is below {wording.number(limit)} {result.unit}",
        "correct the calcium (and vitamin D) first, then start the antiresorptive",
        (calcium_evidence(result),),
    )


# --- vitamin D ----------------------------------------------------------------------------


def vitamin_d_below(level: VitaminDLevel, limit: float) -> bool:
    comparator = (level.comparator or "").strip()
    if comparator in ("", "="):
        return level.ng_per_ml < limit
    if comparator == "<":
        return level.ng_per_ml <= limit
    if comparator == "<=":
        return level.ng_per_ml < limit
    return False


def recent_hip_fracture(a: Assessment) -> bool:
    days = a.thresholds.recent_fracture_days
    return any(
        f.site is FractureSite.HIP and _within(f.onset or f.source.date, a.as_of, days)
        for f in a.facts.fractures
    )


def vitamin_d_finding(a: Assessment, drug: Drug) -> Finding | None:
    level = a.latest_vitamin_d
    th = a.thresholds
    if level is None or not vitamin_d_below(level, th.vitamin_d_severe_ng_ml):
        return None
    if recent_hip_fracture(a):
        return None  # after a hip fracture treatment does not wait (HORIZON-RFT): see advice
    return Finding(
        Gate.VITAMIN_D,
        drug,
        False,
        f"25(OH)D {result_text(level)} on {wording.day(level.source.date)} is below "
        f"{wording.number(th.vitamin_d_severe_ng_ml)} ng/mL",
        f"replete vitamin D first and start treatment once repletion is under way: recheck "
        f"25(OH)D and start in {th.vitamin_d_repletion_start_weeks_min}–"
        f"{th.vitamin_d_repletion_start_weeks_max} weeks",
        (
            Evidence(
                "25-hydroxyvitamin D", result_text(level), level.source.date, level.source.reference
            ),
        ),
    )


# --- oral route and current therapy -------------------------------------------------------


def oral_route_finding(a: Assessment, drug: Drug) -> Finding | None:
    if drug not in ORAL:
        return None
    for kind in (DiagnosisKind.OESOPHAGEAL_DISEASE, DiagnosisKind.GASTRIC_BYPASS):
        found = _current(a, kind)
        if found is not None:
            return Finding(
                Gate.ORAL_ROUTE,
                drug,
                True,
                f"{found.source.display or kind.value} "
                f"({wording.code(found.system, found.code)}, {wording.day(found.source.date)}) "
                "rules out oral bisphosphonates",
                "use zoledronic acid (yearly infusion) or denosumab (6-monthly injection)",
                (_diagnosis_evidence(found),),
            )
    return None


def treated_finding(
    a: Assessment, drug: Drug, ignore: Collection[DrugClass] = frozenset()
) -> Finding | None:
    current = [e for e in a.current_osteoporosis_therapy if e.drug_class not in ignore]
    if not current:
        return None
    names = ", ".join(sorted({e.ingredient for e in current}))
    return Finding(
        Gate.ALREADY_TREATED,
        drug,
        False,
        f"the patient is already covered by {names}",
        "review the current therapy rather than adding a second antiresorptive",
    )


def findings_for(
    a: Assessment,
    drug: Drug,
    status: KidneyStatus | None = None,
    ignore: Collection[DrugClass] = frozenset(),
) -> list[Finding]:
    """Every gate that holds back a draft of ``drug`` for this patient, strongest first.

    ``ignore``: drug classes whose current cover is the very therapy being followed on (an
    overdue denosumab's still-active order), not a reason to hold the follow-on back.
    """
    status = status if status is not None else kidney_status(a)
    found = [
        treated_finding(a, drug, ignore),
        kidney_finding(status, drug, a.thresholds),
        calcium_finding(a, drug),
        vitamin_d_finding(a, drug),
        oral_route_finding(a, drug),
    ]
    return [f for f in found if f is not None]


# --- a card's drafts ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GatedDrafts:
    """A card's drug drafts after the gates: what stays, what was held back and why."""

    orders: tuple[OrderKind, ...]  # the drafts to offer (drug drafts that passed, and the rest)
    companions: tuple[OrderKind, ...]  # drafts to go with each drug draft (kidney labs)
    held: tuple[Finding, ...]
    advice: tuple[str, ...]  # lines for the card
    evidence: tuple[Evidence, ...]


def unreadable_line(item: UnreadableValue, noun: str | None = None) -> str:
    """The sentence that names a result a card could not read (``noun`` defaults to
    "<what> result")."""
    return (
        f"A {noun or f'{item.what} result'} on {wording.day(item.source.date)} "
        f"({item.source.reference}) could not be read ({item.reason}); it was not used."
    )


def _unreadable_lines(status: KidneyStatus, a: Assessment) -> list[str]:
    days = a.thresholds.calcium_recency_days
    return [unreadable_line(item) for item in status.unreadable] + [
        unreadable_line(item)
        for item in a.facts.unreadable
        if item.what in ("calcium", "albumin") and _within(item.source.date, a.as_of, days)
    ]


def gate_drafts(
    a: Assessment, orders: Sequence[OrderKind], ignore: Collection[DrugClass] = frozenset()
) -> GatedDrafts:
    """Apply every gate to a card's drafts. Non-drug drafts pass untouched; when a drug draft
    stays and no kidney result is on record within the window, a kidney lab draft joins it."""
    status = kidney_status(a)
    kept: list[OrderKind] = []
    held: list[Finding] = []
    for kind in orders:
        drug = DRUG_OF_ORDER.get(kind)
        if drug is None:
            kept.append(kind)
            continue
        findings = findings_for(a, drug, status, ignore)
        if findings:
            held.append(findings[0])
            held.extend(f for f in findings[1:] if f.gate not in {h.gate for h in held})
        else:
            kept.append(kind)
    advice: list[str] = []
    evidence: list[Evidence] = []
    gates_seen: set[Gate] = set()
    for finding in held:
        if finding.gate in gates_seen:
            continue
        gates_seen.add(finding.gate)
        drugs = sorted({f.drug.value for f in held if f.gate is finding.gate})
        advice.append(
            f"**No {' or '.join(drugs)} draft:** {finding.reason}. Instead, {finding.instead}."
        )
        evidence.extend(e for e in finding.evidence if e not in evidence)
    drug_kept = any(k in DRUG_OF_ORDER for k in kept)
    companions: list[OrderKind] = []
    if drug_kept:
        level = a.latest_vitamin_d
        th = a.thresholds
        if level is not None and vitamin_d_below(level, th.vitamin_d_target_ng_ml):
            if vitamin_d_below(level, th.vitamin_d_severe_ng_ml) and recent_hip_fracture(a):
                advice.append(
                    "25(OH)D is below "
                    f"{wording.number(th.vitamin_d_severe_ng_ml)} ng/mL, but after a recent hip "
                    "fracture treatment should not wait: give a vitamin D loading dose, then "
                    "treat (HORIZON-RFT gave it two weeks before zoledronic acid) {{HORIZON_RFT}}."
                )
            else:
                advice.append("25(OH)D is below target: replete vitamin D alongside treatment.")
        if not status.measured and status.severe_ckd is None and status.dialysis is None:
            companions.append(OrderKind.KIDNEY_LABS)
            advice.append(
                "No kidney function result in the past "
                f"{a.thresholds.kidney_result_recency_days} days: check kidney function and "
                "calcium before the first dose (a basic metabolic panel comes with each "
                "bisphosphonate draft)."
            )
        else:
            lowest = status.lowest
            if lowest is not None:
                evidence.append(kidney_evidence(lowest))
    advice.extend(_unreadable_lines(status, a))
    return GatedDrafts(tuple(kept), tuple(companions), tuple(held), tuple(advice), tuple(evidence))
