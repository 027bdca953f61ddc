"""R8 (clinical-spec §0.3, version 2): glucocorticoids per ACR 2022 for every adult with or
without a DXA; aromatase inhibitors (Hadji 2017) and androgen deprivation (ASCO 2019); other
bone-loss medicines with low bone mass. Boundaries: prednisone 2.4/2.5 mg, 89/90 days,
hydrocortisone 30/31 mg in adrenal insufficiency, ACR categories at T −1.0/−2.5/−3.5 and FRAX
10/20/30 %."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from . import fhir_builders as fb
from .conftest import AS_OF, Run
from .people import LAST_MONTH, days_ago, man, months_ago, woman


def _steroid(
    pid: str,
    mg: float,
    start,
    end=None,
    name: str = "prednisone",
    code: str = "8640",
    **extra: Any,
) -> dict:
    dosage = {
        "doseAndRate": [{"doseQuantity": {"value": mg, "unit": "mg", "code": "mg"}}],
        "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
    }
    return fb.medication_request(pid, code, name, start, end, dosageInstruction=[dosage], **extra)


def _patient(pid: str, *resources: dict, age: int = 45, t: float | None = None) -> dict:
    items = list(resources)
    if t is not None:
        items.append(fb.t_score(pid, "femur", t, LAST_MONTH))
    return fb.prefetch(woman(pid, age), fb.vitamin_d(pid, 32, LAST_MONTH), *items)


def labels(card: dict) -> list[str]:
    return [s["label"].split(",")[0] for s in card.get("suggestions", [])]


@pytest.mark.parametrize(("mg", "expected"), [(2.4, False), (2.5, True)])
def test_r8_prednisone_dose_boundary(run: Run, mg: float, expected: bool) -> None:
    pid = f"r8-dose-{mg}".replace(".", "-")
    cards = run(_patient(pid, _steroid(pid, mg, days_ago(120))), pid)
    assert ("R8" in cards) is expected
    if expected:
        card = cards["R8"]
        assert "prednisone 2.5 mg/day" in card["summary"]
        assert "Order DXA bone density scan" in labels(card)  # no DXA on record at all
        assert "stop" not in card["detail"].lower() and "review the need" not in card["detail"]
        assert "lowest effective" in card["detail"]


@pytest.mark.parametrize(("days", "expected"), [(89, False), (90, True)])
def test_r8_course_length_boundary(run: Run, days: int, expected: bool) -> None:
    pid = f"r8-days-{days}"
    cards = run(_patient(pid, _steroid(pid, 10, AS_OF - timedelta(days=days - 1))), pid)
    assert ("R8" in cards) is expected


def test_r8_order_expected_to_last_three_months_counts(run: Run) -> None:
    pid = "r8-expected"
    order = _steroid(pid, 10, days_ago(10), AS_OF + timedelta(days=100))
    assert "R8" in run(_patient(pid, order), pid)


def test_r8_consecutive_orders_with_short_gaps_are_one_course(run: Run) -> None:
    pid = "r8-course"
    first = _steroid(pid, 10, days_ago(120), days_ago(61), status="completed")
    second = _steroid(pid, 10, days_ago(40))  # a 20-day gap: one course of 120 days
    card = run(_patient(pid, first, second), pid)["R8"]
    assert f"since {days_ago(120).isoformat()}" in card["summary"]
    pid = "r8-two-courses"
    first = _steroid(pid, 10, days_ago(150), days_ago(91), status="completed")
    second = _steroid(pid, 10, days_ago(60))  # a 30-day gap: a new course of 61 days
    assert "R8" not in run(_patient(pid, first, second), pid)


def test_r8_dose_from_text_and_unknown_dose(run: Run) -> None:
    pid = "r8-text"
    order = fb.medication_request(
        pid, "8640", "prednisone 5 MG Oral Tablet", days_ago(100),
        dosageInstruction=[{"text": "10 mg AM, 5 mg PM"}],
    )  # fmt: skip
    assert "prednisone 15 mg/day" in run(_patient(pid, order), pid)["R8"]["summary"]
    pid = "r8-unknown"
    order = fb.medication_request(pid, "8640", "prednisone", days_ago(100))
    assert "dose not recorded" in run(_patient(pid, order), pid)["R8"]["summary"]


def test_r8_dose_in_unknown_unit_says_it_could_not_be_read(run: Run) -> None:
    pid = "r8-puff"
    dosage = {
        "doseAndRate": [{"doseQuantity": {"value": 2, "unit": "puff"}}],
        "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
    }
    order = fb.medication_request(
        pid, "8640", "prednisone", days_ago(100), dosageInstruction=[dosage]
    )
    assert "could not be read" in run(_patient(pid, order), pid)["R8"]["summary"]


@pytest.mark.parametrize(("mg", "expected"), [(30, False), (31, True)])
def test_r8_hydrocortisone_replacement_in_adrenal_insufficiency(
    run: Run, mg: float, expected: bool
) -> None:
    pid = f"r8-addison-{mg}"
    addison = fb.condition(pid, fb.ICD10, "E27.1", "Primary adrenocortical insufficiency", None)
    order = _steroid(pid, mg, months_ago(24), name="hydrocortisone", code="5492")
    cards = run(_patient(pid, addison, order), pid)
    assert ("R8" in cards) is expected


def test_r8_dxa_in_the_12_months_before_the_course_means_no_dxa_draft(run: Run) -> None:
    pid = "r8-dxa-before"
    course_start = days_ago(150)
    cards = run(
        _patient(
            pid,
            fb.procedure_dxa(pid, course_start - timedelta(days=300)),
            _steroid(pid, 10, course_start),
        ),
        pid,
    )
    assert "Order DXA bone density scan" not in labels(cards["R8"])


@pytest.mark.parametrize(
    ("t", "category"),
    [(-0.9, "low"), (-1.0, "moderate"), (-2.4, "moderate"), (-2.5, "high"), (-3.5, "very high")],
)
def test_r8_acr_categories_by_t_score(run: Run, t: float, category: str) -> None:
    pid = f"r8-t{t}".replace(".", "-")
    cards = run(_patient(pid, _steroid(pid, 5, days_ago(200)), t=t, age=45), pid)
    card = cards["R8"]
    assert f"ACR 2022 risk category: **{category}**" in card["detail"]
    treated = category != "low"
    # age 45, premenopausal: R4 does not speak, so R8 offers one bisphosphonate
    assert ("Order alendronate 70 mg weekly" in labels(card)) is treated


@pytest.mark.parametrize(
    ("mof", "category"), [(9.9, "low"), (10.0, "moderate"), (20.0, "high"), (30.0, "very high")]
)
def test_r8_acr_categories_by_frax(run: Run, mof: float, category: str) -> None:
    pid = f"r8-frax-{mof}".replace(".", "-")
    cards = run(
        _patient(
            pid, _steroid(pid, 5, days_ago(200)), fb.frax(pid, "major", mof, LAST_MONTH), t=-0.5
        ),
        pid,
    )
    assert f"ACR 2022 risk category: **{category}**" in cards["R8"]["detail"]


def test_r8_frax_adjusted_above_7_5_mg(run: Run) -> None:
    pid = "r8-frax-adjusted"
    cards = run(
        _patient(
            pid, _steroid(pid, 10, days_ago(200)), fb.frax(pid, "major", 18.0, LAST_MONTH), t=-0.5
        ),
        pid,
    )
    detail = cards["R8"]["detail"]
    assert "**high**" in detail and "FRAX MOF 20.7 %" in detail and "× 1.15" in detail


def test_r8_aromatase_inhibitor_hadji_criteria(run: Run) -> None:
    pid = "r8-ai"
    cards = run(
        _patient(
            pid, fb.medication_request(pid, "84857", "anastrozole", months_ago(3)), t=-2.1, age=60
        ),
        pid,
    )
    card = cards["R8"]
    assert (
        "Anastrozole (aromatase inhibitor since" in card["summary"] and "treat" in card["summary"]
    )
    assert "Hadji 2017" in card["detail"]
    assert "stop" not in card["detail"].lower()


@pytest.mark.parametrize(("bmi", "treat"), [(19.9, True), (20.0, False)])
def test_r8_aromatase_inhibitor_bmi_below_20_is_a_hadji_risk_factor(
    run: Run, bmi: float, treat: bool
) -> None:
    """Hadji 2017: T below −1.5 with one risk factor; a BMI below 20 kg/m² is one."""
    pid = f"r8-ai-bmi-{bmi}".replace(".", "-")
    anastrozole = fb.medication_request(pid, "84857", "anastrozole", months_ago(3))
    cards = run(
        _patient(pid, anastrozole, fb.body_mass_index(pid, bmi, LAST_MONTH), t=-1.6, age=60),
        pid,
    )
    card = cards["R8"]
    assert card["summary"].endswith(": treat") is treat
    assert ("(found: BMI 19.9 kg/m²)" in card["detail"]) is treat
    assert ("Body mass index: **19.9 kg/m²**" in card["detail"]) is treat


def test_r8_aromatase_inhibitor_former_smoking_and_age_are_two_risk_factors(run: Run) -> None:
    pid = "r8-ai-former-smoker"
    former = fb.smoking(pid, "8517006", "Ex-smoker", LAST_MONTH)
    anastrozole = fb.medication_request(pid, "84857", "anastrozole", months_ago(3))
    card = run(_patient(pid, anastrozole, former, t=-1.2, age=67), pid)["R8"]
    assert card["summary"].endswith(": treat")
    assert "(found: age over 65, former smoking)" in card["detail"]


def test_r8_androgen_deprivation_without_dxa(run: Run) -> None:
    pid = "r8-adt"
    cards = run(
        fb.prefetch(
            man(pid, 70),
            fb.vitamin_d(pid, 32, LAST_MONTH),
            fb.medication_request(pid, "42375", "leuprolide", months_ago(2)),
        ),
        pid,
    )
    card = cards["R8"]
    assert "androgen deprivation since" in card["summary"] and "DXA due" in card["summary"]
    assert labels(card) == ["Order DXA bone density scan"]
    assert "ASCO 2019" in card["detail"]


def test_r8_other_bone_loss_medicine_only_with_low_bone_mass(run: Run) -> None:
    pid = "r8-mpa"
    order = fb.medication_request(pid, "6691", "medroxyprogesterone", months_ago(2))
    assert "R8" not in run(_patient(pid, order, t=-0.5, age=55), pid)
    pid = "r8-mpa-low"
    order = fb.medication_request(pid, "6691", "medroxyprogesterone", months_ago(2))
    card = run(_patient(pid, order, t=-1.8, age=55), pid)["R8"]
    assert "medroxyprogesterone: review the need" in card["summary"]


def test_r8_stopped_glucocorticoid_does_not_count(run: Run) -> None:
    pid = "r8-stopped"
    order = _steroid(pid, 10, months_ago(12), months_ago(6), status="completed")
    assert "R8" not in run(_patient(pid, order, t=-1.8, age=66), pid)


def test_r8_kidney_check_comes_with_the_drug_draft_not_the_supplements(run: Run) -> None:
    """No kidney result on record: the basic metabolic panel goes with the bisphosphonate's
    first dose, not with the calcium and vitamin D drafts beside it."""
    pid = "r8-companion"
    card = run(_patient(pid, _steroid(pid, 10, days_ago(200)), t=-1.8, age=60), pid)["R8"]
    by_label = {
        s["label"]: [a["resource"]["resourceType"] for a in s["actions"]]
        for s in card["suggestions"]
    }
    drug = [label for label in by_label if label.startswith("Order alendronate")]
    assert len(drug) == 1 and drug[0].endswith(
        "with basic metabolic panel (kidney function, calcium) first"
    )
    assert by_label[drug[0]] == ["MedicationRequest", "ServiceRequest"]
    supplements = [
        label for label in by_label if label.startswith(("Order calcium", "Order vitamin D"))
    ]
    assert supplements and all(by_label[label] == ["MedicationRequest"] for label in supplements)
    assert not any("metabolic panel" in label for label in supplements)
