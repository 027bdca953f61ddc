"""O1: a bisphosphonate or denosumab drafted past the kidney gate of its label (§0.2.1, §5)."""

from __future__ import annotations

from . import fhir_builders as fb
from .order_drafts import (
    ALENDRONATE_SCD,
    created,
    deleted,
    draft_medication,
    order_cards,
    rules_of,
    session,
)
from .people import LAST_MONTH, months_ago, woman
from .test_gates import egfr

PID = "o1"


def _draft(name: str, code: str | None = None, rid: str = "draft-drug") -> dict:
    return session(draft_medication(PID, rid, name, code=code))


def _o1(engine, drafts, *resources) -> list[dict]:
    data = fb.prefetch(woman(PID, 74), fb.vitamin_d(PID, 34, LAST_MONTH), *resources)
    return [c for c in order_cards(engine, data, PID, drafts) if rules_of([c]) == ["O1"]]


def _alendronate() -> dict:
    code, name = ALENDRONATE_SCD
    return _draft(name, code, "draft-alendronate")


def test_o1_alendronate_at_egfr_25_is_critical_and_offers_to_remove_the_draft(engine) -> None:
    (card,) = _o1(engine, _alendronate(), egfr(PID, 25))
    assert card["indicator"] == "critical"
    assert "eGFR 25" in card["summary"] and "contraindicated" in card["summary"]
    assert deleted(card) == ["MedicationRequest/draft-alendronate"]
    assert created(card) == []
    assert "CKD–mineral and bone disorder" in card["detail"]


def test_o1_alendronate_between_30_and_35_is_a_warning_with_risedronate_instead(engine) -> None:
    for value in (30, 34.9):
        (card,) = _o1(engine, _alendronate(), egfr(PID, value))
        assert card["indicator"] == "warning", value
        (suggestion,) = card["suggestions"]
        kinds = [a["type"] for a in suggestion["actions"]]
        assert kinds == ["delete", "create"]  # the replacement beside the delete
        assert "risedronate" in created(card)[0]
    assert _o1(engine, _alendronate(), egfr(PID, 29.9))[0]["indicator"] == "critical"


def test_o1_alendronate_at_35_passes(engine) -> None:
    assert _o1(engine, _alendronate(), egfr(PID, 35)) == []


def test_o1_dialysis_makes_any_oral_bisphosphonate_critical(engine) -> None:
    dialysis = fb.condition(PID, fb.ICD10, "Z99.2", "Dependence on renal dialysis", months_ago(6))
    (card,) = _o1(engine, _draft("risedronate 35 MG Oral Tablet"), egfr(PID, 60), dialysis)
    assert card["indicator"] == "critical" and "dialysis" in card["summary"]


def test_o1_denosumab_below_30_is_a_boxed_warning_not_critical(engine) -> None:
    (card,) = _o1(engine, _draft("denosumab 60 MG/ML Prefilled Syringe"), egfr(PID, 22))
    assert card["indicator"] == "warning"
    assert "boxed warning" in card["summary"]
    assert deleted(card) == ["MedicationRequest/draft-drug"]


def test_o1_zoledronic_acid_below_35_is_critical(engine) -> None:
    zoledronic = _draft("zoledronic acid 5 MG/100ML Injection")
    assert _o1(engine, zoledronic, egfr(PID, 34))[0]["indicator"] == "critical"
    assert _o1(engine, zoledronic, egfr(PID, 35)) == []


def test_o1_no_kidney_result_asks_for_labs_before_the_first_dose(engine) -> None:
    (card,) = _o1(engine, _alendronate())
    assert card["indicator"] == "info"
    assert "Basic metabolic panel" in created(card)[0]
    stale = egfr(PID, 70, when=months_ago(13))
    assert len(_o1(engine, _alendronate(), stale)) == 1
