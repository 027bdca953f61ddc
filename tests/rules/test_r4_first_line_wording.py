"""R4: the card states the plan it offers. Oral bisphosphonates are called first line only when
an oral draft is on the card; a held-back oral route or kidney gate, or hormone therapy first
in premature menopause, rewords the bisphosphonate paragraph."""

from __future__ import annotations

from . import fhir_builders as fb
from .conftest import Run
from .people import LAST_MONTH, months_ago, woman
from .test_gates import egfr, osteoporosis

GENERIC_ORAL_CAVEAT = "Oral bisphosphonates are unsuitable with oesophageal stricture"


def test_r4_first_line_when_oral_drafts_are_offered(run: Run) -> None:
    pid = "r4-wording-ready"
    card = run(osteoporosis(pid, egfr(pid, 70)), pid)["R4"]
    assert "**First line is an oral bisphosphonate**" in card["detail"]
    assert GENERIC_ORAL_CAVEAT in card["detail"]


def test_r4_oesophageal_stricture_is_not_called_first_line(run: Run) -> None:
    pid = "r4-wording-stricture"
    stricture = fb.condition(pid, fb.ICD10, "K22.2", "Esophageal obstruction", months_ago(30))
    card = run(osteoporosis(pid, egfr(pid, 70), stricture), pid)["R4"]
    detail = card["detail"]
    assert "First line is an oral bisphosphonate" not in detail
    assert "no oral draft is offered" in detail
    assert "Instead, use zoledronic acid (yearly infusion) or denosumab" in detail
    assert "instead." not in detail.lower().replace("instead, ", "")  # one "instead"
    assert GENERIC_ORAL_CAVEAT not in detail  # the specific contraindication said it
    assert "alendronate" not in str(card.get("suggestions", []))


def test_r4_kidney_gate_below_30_is_not_called_first_line(run: Run) -> None:
    pid = "r4-wording-egfr-29-9"
    card = run(osteoporosis(pid, egfr(pid, 29.9)), pid)["R4"]
    detail = card["detail"]
    assert "First line is an oral bisphosphonate" not in detail
    assert "the usual first line" in detail and "no oral draft is offered" in detail
    assert "CKD–mineral and bone disorder" in detail
    assert GENERIC_ORAL_CAVEAT not in detail


def test_r4_kidney_gate_at_30_risedronate_is_first_line(run: Run) -> None:
    pid = "r4-wording-egfr-30"
    card = run(osteoporosis(pid, egfr(pid, 30)), pid)["R4"]
    assert "**First line is an oral bisphosphonate**" in card["detail"]


def test_r4_premature_menopause_bisphosphonate_is_the_fallback(run: Run) -> None:
    pid = "r4-wording-poi"
    cards = run(
        fb.prefetch(
            woman(pid, 42),
            fb.condition(pid, fb.ICD10, "E28.310", "Symptomatic premature menopause", None),
            fb.t_score(pid, "lumbar spine", -2.6, LAST_MONTH),
            fb.vitamin_d(pid, 32, LAST_MONTH),
            egfr(pid, 96),
        ),
        pid,
    )
    detail = cards["R4"]["detail"]
    assert "First line is an oral bisphosphonate" not in detail
    assert "If hormone therapy is contraindicated or declined: an oral bisphosphonate" in detail
    assert detail.index("hormone therapy until about") < detail.index("contraindicated or declined")
