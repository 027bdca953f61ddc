"""Safety gates (clinical-spec §0.2) on R4's drug drafts, at every boundary: kidneys per drug,
CKD 4–5 against newer results, calcium corrected or ionized, severe vitamin D deficiency with the
recent hip fracture exception, oral-route contraindications, current therapy by administration."""

from __future__ import annotations

from typing import Any

import pytest

import fhir_mappings
from cds_service.guideline.assessment import assess
from cds_service.guideline.gates import Drug, findings_for
from cds_service.guideline.thresholds import load_thresholds

from . import fhir_builders as fb
from .conftest import AS_OF, Run
from .people import LAST_MONTH, days_ago, months_ago, woman

ALENDRONATE = "Order alendronate 70 mg weekly"
RISEDRONATE = "Order risedronate 35 mg weekly"


def _obs(pid: str, code: str, value: float, unit: str | None, when, **extra: Any) -> dict:
    quantity: dict[str, Any] = {"value": value}
    if unit is not None:
        quantity.update({"unit": unit, "system": fb.UCUM, "code": unit})
    return fb._observation(pid, code, code, when, valueQuantity=quantity, **extra)


def egfr(pid: str, value: float, when=LAST_MONTH, unit: str | None = "mL/min/{1.73_m2}") -> dict:
    return _obs(pid, "98979-8", value, unit, when)


def osteoporosis(pid: str, *extra: dict, age: int = 72, vitamin_d: float = 32) -> dict:
    return fb.prefetch(
        woman(pid, age),
        fb.t_score(pid, "lumbar spine", -2.9, LAST_MONTH),
        fb.vitamin_d(pid, vitamin_d, LAST_MONTH),
        *extra,
    )


def drug_labels(card: dict) -> set[str]:
    return {s["label"].split(",")[0] for s in card.get("suggestions", [])}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (35.0, {ALENDRONATE, RISEDRONATE}),
        (34.9, {RISEDRONATE}),  # at 30-34 only risedronate
        (30.0, {RISEDRONATE}),
        (29.9, set()),
    ],
)
def test_gate_kidney_egfr_boundaries(run: Run, value: float, expected: set[str]) -> None:
    pid = f"gate-egfr-{value}".replace(".", "-")
    card = run(osteoporosis(pid, egfr(pid, value)), pid)["R4"]
    assert drug_labels(card) == expected
    assert card["indicator"] == "warning"
    if expected != {ALENDRONATE, RISEDRONATE}:
        assert "CKD–mineral and bone disorder" in card["detail"]
        assert LAST_MONTH.isoformat() in card["detail"]
        assert "No alendronate" in card["detail"]


@pytest.mark.parametrize(
    ("creatinine", "expected"),
    [
        # woman of 72, 50 kg: Cockcroft-Gault (140 - 72) × 50 / (72 × Scr) × 0.85
        (1.146, {ALENDRONATE, RISEDRONATE}),  # CrCl 35.02
        (1.147, {RISEDRONATE}),  # CrCl 34.99
        (1.337, {RISEDRONATE}),  # CrCl 30.02
        (1.338, set()),  # CrCl 29.999
    ],
)
def test_gate_kidney_cockcroft_gault_boundaries_use_the_lower(
    run: Run, creatinine: float, expected: set[str]
) -> None:
    """A reported eGFR of 60 the same month does not save the draft: the lower value decides."""
    pid = f"gate-crcl-{creatinine}".replace(".", "-")
    cards = run(
        osteoporosis(
            pid,
            egfr(pid, 60, when=months_ago(2)),
            _obs(pid, "2160-0", creatinine, "mg/dL", days_ago(1)),
            _obs(pid, "29463-7", 50, "kg", LAST_MONTH),
        ),
        pid,
    )
    assert drug_labels(cards["R4"]) == expected
    if expected != {ALENDRONATE, RISEDRONATE}:
        assert "Cockcroft–Gault" in cards["R4"]["detail"]


def test_gate_creatinine_only_computes_ckd_epi_and_says_so(run: Run) -> None:
    pid = "gate-creatinine-only"
    # woman of 72, creatinine 2.0 mg/dL: CKD-EPI 2021 about 25
    card = run(osteoporosis(pid, _obs(pid, "2160-0", 2.0, "mg/dL", LAST_MONTH)), pid)["R4"]
    assert drug_labels(card) == set()
    assert "computed from creatinine with CKD-EPI 2021, race-free" in card["detail"]


def test_gate_creatinine_in_micromoles(run: Run) -> None:
    pid = "gate-creatinine-umol"
    card = run(osteoporosis(pid, _obs(pid, "2160-0", 176.8, "umol/L", LAST_MONTH)), pid)["R4"]
    assert drug_labels(card) == set()
    assert "creatinine 2.0 mg/dL" in card["detail"]


def test_gate_ckd4_diagnosis_before_and_after_a_normal_egfr(run: Run) -> None:
    ckd4 = ("N18.4", "Chronic kidney disease, stage 4 (severe)")
    pid = "gate-ckd4-newer"
    old_result = osteoporosis(
        pid, egfr(pid, 62, when=months_ago(6)), fb.condition(pid, fb.ICD10, *ckd4, months_ago(2))
    )
    card = run(old_result, pid)["R4"]
    assert drug_labels(card) == set()
    assert "stage 4–5 is recorded" in card["detail"]
    pid = "gate-ckd4-older"
    newer_result = osteoporosis(
        pid, egfr(pid, 62, when=months_ago(2)), fb.condition(pid, fb.ICD10, *ckd4, months_ago(6))
    )
    assert drug_labels(run(newer_result, pid)["R4"]) == {ALENDRONATE, RISEDRONATE}


def test_gate_dialysis_always_counts(run: Run) -> None:
    pid = "gate-dialysis"
    dialysis = fb.condition(pid, fb.ICD10, "Z99.2", "Dependence on renal dialysis", months_ago(24))
    card = run(osteoporosis(pid, egfr(pid, 62, when=LAST_MONTH), dialysis), pid)["R4"]
    assert drug_labels(card) == set()
    assert "on dialysis" in card["detail"]


def test_gate_no_kidney_result_keeps_drafts_and_adds_the_lab(run: Run) -> None:
    pid = "gate-no-kidney"
    card = run(osteoporosis(pid, egfr(pid, 70, when=months_ago(13))), pid)["R4"]
    assert drug_labels(card) == {ALENDRONATE, RISEDRONATE}
    for suggestion in card["suggestions"]:
        resources = [a["resource"] for a in suggestion["actions"]]
        assert [r["resourceType"] for r in resources] == ["MedicationRequest", "ServiceRequest"]
        codes = {c["code"] for c in resources[1]["code"]["coding"]}
        assert codes == {"51990-0", "80048"}
    assert "check kidney function and calcium before the first dose" in card["detail"]
    assert card["selectionBehavior"] == "at-most-one"


def test_gate_unreadable_egfr_decides_nothing_and_is_named(run: Run) -> None:
    pid = "gate-egfr-no-unit"
    card = run(osteoporosis(pid, egfr(pid, 20, unit=None)), pid)["R4"]
    assert drug_labels(card) == {ALENDRONATE, RISEDRONATE}  # with the kidney lab draft
    assert "could not be read" in card["detail"]


def _calcium(pid: str, value: float, unit: str, albumin: float, albumin_unit: str) -> tuple:
    return (
        _obs(pid, "17861-6", value, unit, LAST_MONTH),
        _obs(pid, "1751-7", albumin, albumin_unit, LAST_MONTH),
    )


@pytest.mark.parametrize(
    ("calcium", "albumin", "albumin_unit", "held"),
    [
        (8.29, 3.75, "g/dL", True),  # corrected 8.49
        (8.30, 3.75, "g/dL", False),  # corrected 8.50
        (8.29, 37.5, "g/L", True),
        (8.30, 37.5, "g/L", False),
    ],
)
def test_gate_corrected_calcium_boundaries(
    run: Run, calcium: float, albumin: float, albumin_unit: str, held: bool
) -> None:
    pid = f"gate-ca-{calcium}-{albumin_unit}".replace(".", "-").replace("/", "")
    extra = (egfr(pid, 70), *_calcium(pid, calcium, "mg/dL", albumin, albumin_unit))
    card = run(osteoporosis(pid, *extra), pid)["R4"]
    assert (drug_labels(card) == set()) is held
    if held:
        assert "corrected calcium 8.49 mg/dL" in card["detail"]
        assert "correct the calcium" in card["detail"]


@pytest.mark.parametrize(("ionized", "held"), [(1.14, True), (1.15, False)])
def test_gate_ionized_calcium_boundary(run: Run, ionized: float, held: bool) -> None:
    pid = f"gate-ica-{ionized}".replace(".", "-")
    card = run(
        osteoporosis(pid, egfr(pid, 70), _obs(pid, "1994-3", ionized, "mmol/L", LAST_MONTH)),
        pid,
    )["R4"]
    assert (drug_labels(card) == set()) is held


@pytest.mark.parametrize(
    ("level", "held", "alongside"),
    [(11.9, True, False), (12.0, False, True), (19.9, False, True), (20.0, False, False)],
)
def test_gate_vitamin_d_boundaries(run: Run, level: float, held: bool, alongside: bool) -> None:
    pid = f"gate-vitd-{level}".replace(".", "-")
    card = run(osteoporosis(pid, egfr(pid, 70), vitamin_d=level), pid)["R4"]
    assert (drug_labels(card) == set()) is held
    if held:
        assert "replete vitamin D first" in card["summary"]
        assert "8–12 weeks" in card["detail"]
    assert ("replete vitamin D alongside" in card["detail"]) is alongside


def test_gate_vitamin_d_recent_hip_fracture_does_not_wait(run: Run) -> None:
    pid = "gate-vitd-hip"
    hip = fb.condition(pid, fb.ICD10, "S72.001A", "Fracture of neck of right femur", months_ago(2))
    card = run(osteoporosis(pid, egfr(pid, 70), hip, vitamin_d=8), pid)["R4"]
    # a hip fracture within 12 months is very high risk: the referral beside alendronate
    assert drug_labels(card) == {ALENDRONATE, "Refer to a bone health service"}
    assert "loading dose" in card["detail"] and "HORIZON-RFT" in card["detail"]


def test_gate_oral_route_oesophageal_stricture_names_alternatives(run: Run) -> None:
    pid = "gate-oesophagus"
    stricture = fb.condition(pid, fb.ICD10, "K22.2", "Esophageal obstruction", months_ago(30))
    card = run(osteoporosis(pid, egfr(pid, 70), stricture), pid)["R4"]
    assert drug_labels(card) == set()
    assert "zoledronic acid" in card["detail"] and "denosumab" in card["detail"]
    assert "oral route unsuitable" in card["summary"]


def _administration(pid: str, code: str, display: str, when) -> dict:
    return {
        "resourceType": "MedicationAdministration",
        "id": f"{pid}-admin",
        "status": "completed",
        "medicationCodeableConcept": {
            "coding": [{"system": fb.RXNORM, "code": code, "display": display}]
        },
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": when.isoformat(),
    }


def test_gate_denosumab_by_administration_offers_nothing_antiresorptive(run: Run) -> None:
    pid = "gate-dmab-given"
    cards = run(osteoporosis(pid, _administration(pid, "993449", "denosumab", months_ago(3))), pid)
    assert "R4" not in cards
    for card in cards.values():
        assert not drug_labels(card) & {ALENDRONATE, RISEDRONATE}


def test_gate_active_order_without_administration_is_not_cover(run: Run) -> None:
    """Zoledronic acid was given 14 months ago; an active order since shows no infusion: the
    patient is not covered, so R4 speaks (the order alone does not prove the drug was given)."""
    pid = "gate-zol-order-only"
    cards = run(
        osteoporosis(
            pid,
            egfr(pid, 70),
            _administration(pid, "77655", "zoledronic acid", months_ago(14)),
            fb.medication_request(pid, "77655", "zoledronic acid", days_ago(200)),
        ),
        pid,
    )
    assert "R4" in cards


def test_gate_zoledronic_acid_given_7_months_ago_is_cover(run: Run) -> None:
    pid = "gate-zol-7-months"
    cards = run(
        osteoporosis(pid, _administration(pid, "77655", "zoledronic acid", months_ago(7))), pid
    )
    assert "R4" not in cards


def test_gate_active_order_with_no_administrations_on_record_is_cover(run: Run) -> None:
    """Where no administration of the drug is on record at all, the order is the evidence."""
    pid = "gate-dmab-order-only"
    cards = run(
        osteoporosis(pid, fb.medication_request(pid, "993449", "denosumab", months_ago(2))), pid
    )
    assert "R4" not in cards


def _findings(pid: str, drug: Drug, *resources: dict) -> list:
    facts = fhir_mappings.build_facts(osteoporosis(pid, *resources), patient_id=pid, as_of=AS_OF)
    return findings_for(assess(facts, AS_OF, load_thresholds()), drug)


@pytest.mark.parametrize(("value", "held"), [(34.9, True), (35.0, False)])
def test_gate_zoledronic_acid_kidney_limit(value: float, held: bool) -> None:
    pid = f"gate-zol-{value}".replace(".", "-")
    found = _findings(pid, Drug.ZOLEDRONIC_ACID, egfr(pid, value))
    assert bool(found) is held
    if held:
        assert found[0].contraindicated


def test_gate_zoledronic_acid_acute_kidney_injury() -> None:
    pid = "gate-zol-aki"
    aki = fb.condition(pid, fb.ICD10, "N17.9", "Acute kidney failure, unspecified", LAST_MONTH)
    (finding,) = _findings(pid, Drug.ZOLEDRONIC_ACID, egfr(pid, 60), aki)
    assert finding.contraindicated and "acute kidney injury" in finding.reason


@pytest.mark.parametrize(("value", "held"), [(29.9, True), (30.0, False)])
def test_gate_denosumab_boxed_warning_below_30(value: float, held: bool) -> None:
    pid = f"gate-dmab-{value}".replace(".", "-")
    found = _findings(pid, Drug.DENOSUMAB, egfr(pid, value))
    assert bool(found) is held
    if held:
        assert not found[0].contraindicated and "boxed warning" in found[0].reason


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (35.0, {ALENDRONATE}),
        (34.9, {RISEDRONATE}),  # alendronate held, risedronate is the bridge
        (30.0, {RISEDRONATE}),
        (29.9, set()),
    ],
)
def test_gate_kidney_on_the_very_high_risk_bridge(run: Run, value: float, expected: set) -> None:
    pid = f"gate-vhr-egfr-{value}".replace(".", "-")
    hip = fb.condition(pid, fb.ICD10, "S72.001A", "Fracture of neck of right femur", months_ago(2))
    card = run(osteoporosis(pid, egfr(pid, value), hip), pid)["R4"]
    assert card["summary"].startswith("Very high fracture risk")
    assert drug_labels(card) == expected | {"Refer to a bone health service"}
    if value < 35:
        assert "below 35" in card["detail"]
