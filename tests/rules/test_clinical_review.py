"""Findings of the clinical review of every card, each pinned by the rule it concerns."""

from __future__ import annotations

import pytest

from cds_service.guideline import wording
from cds_service.guideline.classification import t_display_class, z_display_class
from cds_service.guideline.thresholds import load_thresholds

from . import fhir_builders as fb
from .conftest import Run
from .people import LAST_MONTH, days_ago, months_ago, woman

TH = load_thresholds()


def _osteopenia_woman(pid: str, t: float, age: int = 62, *extra: dict) -> dict:
    return fb.prefetch(
        woman(pid, age),
        fb.t_score(pid, "femur", t, LAST_MONTH),
        fb.vitamin_d(pid, 32, LAST_MONTH),
        *extra,
    )


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (-3.5776262476366476, "−3.58"),  # Synthea: 16 significant digits
        (-1.8, "−1.8"),  # as reported
        (-2.5, "−2.5"),
        (-1.0, "−1.0"),
        (0.004465887587984274, "0.0"),  # never "−0.0" or "0.00446589"
        (-2.4999, "−2.4999"),  # osteopenia: "−2.50" would read as osteoporosis
        (-1.000001, "−1.000001"),  # osteopenia: "−1.00" would read as normal
        (-1.99999, "−1.99999"),  # not "−2.00": R6 counts T <= -2.0 as higher risk
        (-2.0049, "−2.0"),  # same side of every cut-off
    ],
)
def test_r1_t_score_display_at_most_two_decimals_and_never_another_class(
    value: float, shown: str
) -> None:
    assert wording.score(value, t_display_class(TH)) == shown


def test_r1_z_score_display_keeps_its_side_of_minus_two() -> None:
    assert wording.score(-2.3456, z_display_class(TH)) == "−2.35"
    assert wording.score(-1.996, z_display_class(TH)) == "−1.996"


def test_r1_synthea_precision_t_score_reads_as_reported_on_every_card(run: Run) -> None:
    pid = "r1-display-synthea"
    cards = run(_osteopenia_woman(pid, -3.5776262476366476), pid)
    assert cards["R2"]["summary"].startswith("Osteoporosis (T −3.58, femoral neck,")
    assert "T −3.58" in cards["R4"]["summary"]  # v2: below −3.0 is very high risk
    for card in cards.values():
        assert "3.577" not in card["summary"] + card["detail"]
        assert "T-score −3.58" in card["detail"] or card is cards["R4"]


def test_r1_t_score_just_above_osteoporosis_is_not_shown_as_minus_2_50(run: Run) -> None:
    pid = "r1-display-boundary"
    cards = run(_osteopenia_woman(pid, -2.4999), pid)
    assert "R4" not in cards  # osteopenia, no FRAX: not treated on density alone
    assert cards["R2"]["summary"].startswith("Osteopenia (T −2.4999, femoral neck,")
    assert "−2.50" not in cards["R2"]["detail"] and "T-score −2.4999" in cards["R2"]["detail"]


def test_r1_z_score_card_rounds_for_display(run: Run) -> None:
    pid = "r1-display-z"
    cards = run(
        fb.prefetch(woman(pid, 35), fb.z_score(pid, "lumbar spine", -2.34567, LAST_MONTH)), pid
    )
    assert cards["R1"]["summary"].startswith("Z-score −2.35 (lumbar spine,")


def _premature_menopause(pid: str, age: int) -> dict:
    return _osteopenia_woman(
        pid,
        -1.8,
        age,
        fb.condition(pid, fb.ICD10, "Z78.0", "Asymptomatic menopausal state", months_ago(24)),
    )


def test_r5_no_frax_card_under_40_frax_is_not_valid(run: Run) -> None:
    """FRAX is calibrated for ages 40-90: a 35-year-old after premature menopause with
    osteopenia gets the foundational measures (R2) but no "calculate FRAX" card."""
    pid = "r5-menopause-35"
    cards = run(_premature_menopause(pid, 35), pid)
    assert "R2" in cards and "R5" not in cards
    pid = "r5-menopause-40"
    cards = run(_premature_menopause(pid, 40), pid)
    assert {"R2", "R5"} <= set(cards)


def test_r7_summary_offers_holiday_only_if_no_longer_high_risk(run: Run) -> None:
    """ASBMR 2016: after 5 years reassess; a holiday only for a patient no longer at high
    risk. A summary saying just "consider a drug holiday" invites stopping treatment in a
    patient with T -3.6."""
    pid = "r7-summary"
    cards = run(
        _osteopenia_woman(
            pid,
            -3.6,
            75,
            fb.medication_request(
                pid, "904419", "Alendronic acid 10 MG Oral Tablet", months_ago(66)
            ),
        ),
        pid,
    )
    summary = cards["R7"]["summary"]
    assert "reassess fracture risk" in summary
    assert "only if no longer high risk" in summary
    assert "R4" not in cards  # on alendronate: no "start a bisphosphonate"


@pytest.mark.parametrize(
    "display",
    [
        "romosozumab-aqqg 90 MG/ML Prefilled Syringe",  # RxNorm names carry the FDA suffix
        "denosumab-bbdz 60 MG/ML Prefilled Syringe",  # a denosumab biosimilar
    ],
)
def test_r4_no_bisphosphonate_start_on_suffixed_biologic(run: Run, display: str) -> None:
    """A patient on romosozumab (anabolic) or a denosumab biosimilar, matched by name because
    their RxNorm codes are unverified, must not be told to start an oral bisphosphonate."""
    pid = "r4-biologic-" + display.split("-")[0]
    cards = run(
        _osteopenia_woman(
            pid, -2.9, 68, fb.medication_request(pid, "9999999", display, months_ago(2))
        ),
        pid,
    )
    # v2: R2 speaks only when something is actionable; on an osteoporosis drug with a replete
    # 25(OH)D nothing is
    assert "R4" not in cards


@pytest.mark.parametrize(
    ("deceased", "cards_expected"),
    [
        ({"deceasedDateTime": months_ago(1).isoformat()}, set()),
        ({"deceasedBoolean": True}, set()),
        ({"deceasedBoolean": False}, {"R2", "R4"}),
        # evaluated as of a date before the death: the patient was alive then
        ({"deceasedDateTime": "2099-01-01"}, {"R2", "R4"}),
    ],
)
def test_r2_r4_r6_no_advice_on_a_deceased_patients_chart(
    run: Run, deceased: dict, cards_expected: set[str]
) -> None:
    """An osteoporotic woman who has died must not be offered supplements, a bisphosphonate or
    an overdue DXA (Synthea's Gustavo Olson and Cathryn Windler have records past death)."""
    pid = "r2-deceased"
    prefetch = _osteopenia_woman(pid, -2.7)
    prefetch["patient"].update(deceased)
    assert set(run(prefetch, pid)) == cards_expected


def test_r3_converted_vitamin_d_just_below_target_never_reads_as_20(run: Run) -> None:
    """49.9 nmol/L ÷ 2.496 = 19.99 ng/mL: below the 20 ng/mL target. Shown to one decimal it
    would read "20.0 ng/mL ... is below the 20 ng/mL target"; it must read 19.99."""
    pid = "r3-boundary-nmol"
    cards = run(
        fb.prefetch(
            woman(pid, 62),
            fb.t_score(pid, "femur", -1.8, LAST_MONTH),
            fb.vitamin_d(pid, 49.9, LAST_MONTH, unit="nmol/L"),
        ),
        pid,
    )
    r3 = cards["R3"]
    assert r3["indicator"] == "warning"
    assert "49.9 nmol/L (= 19.99 ng/mL)" in r3["summary"]
    for card in cards.values():
        assert "20.0 ng/mL" not in card["summary"] + card["detail"]
    # an ordinary conversion keeps one decimal: 45 nmol/L = 18.0 ng/mL
    pid = "r3-45-nmol"
    cards = run(
        fb.prefetch(
            woman(pid, 62),
            fb.t_score(pid, "femur", -1.8, LAST_MONTH),
            fb.vitamin_d(pid, 45, LAST_MONTH, unit="nmol/L"),
        ),
        pid,
    )
    assert "45 nmol/L (= 18.0 ng/mL)" in cards["R3"]["summary"]


def test_r4_summary_keeps_the_recommendation_when_two_criteria_are_long(run: Run) -> None:
    """CMS249 "OsteoFracturesDurMP": 203444008 (postoophorectomy osteoporosis with pathological
    fracture) is both a coded osteoporotic fracture and an osteoporosis diagnosis. Naming both
    criteria cut the summary to "...: offer an oral…"; the drug advice must stay whole."""
    pid = "r4-long-criteria"
    cards = run(
        fb.prefetch(
            woman(pid, 62),
            fb.condition(
                pid,
                fb.SNOMED,
                "203444008",
                "Postoophorectomy osteoporosis with pathological fracture (disorder)",
                LAST_MONTH,
            ),
            fb.vitamin_d(pid, 32, LAST_MONTH),
        ),
        pid,
    )
    summary = cards["R4"]["summary"]
    # v2: the fracture of last month makes it very high risk (AACE 2020)
    assert summary.endswith("anabolic first or zoledronic acid; refer")
    assert summary.startswith("Very high fracture risk (osteoporotic fragility fracture")


def test_r5_no_frax_card_after_denosumab_was_stopped(run: Run) -> None:
    """Osteopenia after denosumab stopped a year ago with nothing after it: R7 warns that a
    follow-on bisphosphonate is needed now. R5's "treatment depends on fracture risk, calculate
    FRAX to decide" would contradict it (and FRAX is for untreated patients)."""
    pid = "r5-after-denosumab"
    cards = run(
        _osteopenia_woman(
            pid,
            -1.8,
            66,
            fb.medication_request(
                pid, "993449", "denosumab", months_ago(24), months_ago(12), status="completed"
            ),
        ),
        pid,
    )
    assert set(cards) == {"R2", "R7"}
    assert cards["R7"]["indicator"] == "warning"


def test_r4_late_denosumab_injection_is_a_transition_not_a_first_treatment(run: Run) -> None:
    """Last denosumab injection 200 days ago: its 6-month cover ended 17 days ago, inside the
    grace before R7 calls it stopped. R4 (osteoporosis, no current therapy) must not read as
    first-line treatment of a naive patient (clinical-research.md §4.17)."""
    pid = "r4-denosumab-late"
    dose = days_ago(200)
    cards = run(
        _osteopenia_woman(
            pid,
            -2.7,
            70,
            fb.medication_statement(pid, "993449", "denosumab", dose, dose, "completed"),
        ),
        pid,
    )
    assert "R7" not in cards  # not yet "stopped"
    assert "transition after denosumab" in cards["R4"]["detail"]
    assert "next denosumab injection" in cards["R4"]["detail"]


def test_r7_alendronate_review_cites_no_denosumab_guideline(run: Run) -> None:
    """An alendronate-only review cited the Endocrine Society's denosumab update; the
    references must be those the card's advice rests on (ASBMR 2016, ACP 2023, BHOF 2022)."""
    pid = "r7-references"
    cards = run(
        _osteopenia_woman(
            pid,
            -3.6,
            75,
            fb.medication_request(
                pid, "904419", "Alendronic acid 10 MG Oral Tablet", months_ago(66)
            ),
        ),
        pid,
    )
    references = cards["R7"]["detail"].split("**References:**")[1]
    assert "denosumab" not in references.lower()
    assert "Adler RA" in references and "Qaseem A" in references  # ASBMR 2016, ACP 2023
    pid = "r7-references-denosumab"
    cards = run(
        _osteopenia_woman(
            pid,
            -2.7,
            70,
            fb.medication_statement(pid, "993449", "denosumab", days_ago(400), days_ago(400)),
        ),
        pid,
    )
    assert "Tsourdi E" in cards["R7"]["detail"].split("**References:**")[1]  # v2: ECTS 2021


@pytest.mark.parametrize(("value", "severe"), [(8.0, True), (11.9, True), (12.0, False)])
def test_r3_severe_deficiency_is_not_left_on_a_maintenance_dose(
    run: Run, value: float, severe: bool
) -> None:
    """Version 2 (R3 by level): below the 20 ng/mL target a repletion draft replaces 800 IU;
    below 12 ng/mL the osteomalacia labs come too."""
    pid = f"r3-severe-{value}".replace(".", "-")
    cards = run(
        fb.prefetch(
            woman(pid, 66),
            fb.t_score(pid, "femur", -1.8, LAST_MONTH),
            fb.vitamin_d(pid, value, LAST_MONTH),
        ),
        pid,
    )
    card = cards["R3"]
    assert card["indicator"] == "warning"
    assert "50,000 IU" in card["detail"] and "replete 50,000 IU" in card["summary"]
    assert ("exclude osteomalacia" in card["detail"]) is severe
    assert ("osteomalacia labs" in card["summary"]) is severe
    labels = [s["label"] for s in card["suggestions"]]
    assert "Order vitamin D3 50,000 IU weekly for 8 weeks (repletion)" in labels
    assert ("Order calcium, phosphate, alkaline phosphatase and PTH" in labels) is severe
