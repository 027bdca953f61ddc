"""Diagnoses via the VSAC value sets (system + code), statuses and dates."""

from __future__ import annotations

from datetime import date

import pytest

from fhir_mappings.facts import DiagnosisKind

from .builders import ICD10, SNOMED, condition, facts_of, messages


@pytest.mark.parametrize(
    ("system", "code", "kind"),
    [
        (SNOMED, "312894000", DiagnosisKind.OSTEOPENIA),
        (ICD10, "M85.80", DiagnosisKind.OSTEOPENIA),
        (ICD10, "M85851", DiagnosisKind.OSTEOPENIA),  # no dot, as some EHRs send it
        (SNOMED, "276703007", DiagnosisKind.OSTEOPENIA_OF_PREMATURITY),
        (SNOMED, "64859006", DiagnosisKind.OSTEOPOROSIS),
        (ICD10, "M81.0", DiagnosisKind.OSTEOPOROSIS),
        (ICD10, "M80.08XA", DiagnosisKind.OSTEOPOROSIS_WITH_FRACTURE),
        (SNOMED, "34713006", DiagnosisKind.VITAMIN_D_DEFICIENCY),
        (ICD10, "E55.9", DiagnosisKind.VITAMIN_D_DEFICIENCY),
        (ICD10, "Z78.0", DiagnosisKind.MENOPAUSE),
        (ICD10, "N95.1", DiagnosisKind.MENOPAUSE),
        (SNOMED, "289903006", DiagnosisKind.MENOPAUSE),
        (SNOMED, "76498008", DiagnosisKind.MENOPAUSE),
        (SNOMED, "445501000124107", DiagnosisKind.PARENT_HIP_FRACTURE),
        (ICD10, "N18.4", DiagnosisKind.CKD_SEVERE),
        (ICD10, "N18.6", DiagnosisKind.CKD_SEVERE),
        (SNOMED, "431857002", DiagnosisKind.CKD_SEVERE),
        (ICD10, "Z99.2", DiagnosisKind.DIALYSIS),
        (ICD10, "N17.9", DiagnosisKind.ACUTE_KIDNEY_INJURY),
        (ICD10, "E27.1", DiagnosisKind.ADRENAL_INSUFFICIENCY),
        (SNOMED, "363732003", DiagnosisKind.ADRENAL_INSUFFICIENCY),
        (ICD10, "K22.2", DiagnosisKind.OESOPHAGEAL_DISEASE),
        (ICD10, "K22.0", DiagnosisKind.OESOPHAGEAL_DISEASE),
    ],
)
def test_value_set_membership(system: str, code: str, kind: DiagnosisKind) -> None:
    facts = facts_of(condition("c1", system, code))
    assert [d.kind for d in facts.diagnoses] == [kind]
    (diagnosis,) = facts.diagnoses
    assert diagnosis.source.reference == "Condition/c1"
    assert diagnosis.source.date == date(2020, 1, 1)
    assert diagnosis.clinical_status == "active"


@pytest.mark.parametrize(
    ("system", "code"),
    [(ICD10, "E28.310"), (SNOMED, "373717006"), (ICD10, "E28.39")],
)
def test_premature_menopause_is_also_menopause(system: str, code: str) -> None:
    """Version 2 reads premature menopause and POI as their own fact (R4's hormone-therapy
    path) besides the menopause it also is; E28.39 (POI) is not in the menopause value set."""
    kinds = {d.kind for d in facts_of(condition("c1", system, code)).diagnoses}
    assert DiagnosisKind.PREMATURE_MENOPAUSE in kinds
    if code != "E28.39":
        assert DiagnosisKind.MENOPAUSE in kinds


def test_prematurity_is_not_adult_osteopenia() -> None:
    facts = facts_of(condition("c1", SNOMED, "276703007"))
    assert DiagnosisKind.OSTEOPENIA not in {d.kind for d in facts.diagnoses}


def test_text_alone_never_matches_and_wrong_system_ignored() -> None:
    text_only = {"resourceType": "Condition", "id": "c1", "code": {"text": "Osteopenia"}}
    wrong_system = condition("c2", "http://example.org/local", "312894000")
    assert facts_of(text_only, wrong_system).diagnoses == []


def test_refuted_and_entered_in_error_ignored_resolved_kept() -> None:
    facts = facts_of(
        condition("c1", SNOMED, "312894000", verification="refuted"),
        condition("c2", SNOMED, "312894000", verification="entered-in-error"),
        condition("c3", SNOMED, "34713006", clinical="resolved"),
    )
    assert [(d.source.reference, d.clinical_status) for d in facts.diagnoses] == [
        ("Condition/c3", "resolved")
    ]


def test_condition_dates() -> None:
    facts = facts_of(
        condition("c1", SNOMED, "312894000", onset=None, recordedDate="2021-05"),
        condition("c2", SNOMED, "64859006", onset=None, onsetPeriod={"start": "2019"}),
        condition("c3", SNOMED, "34713006", onset=None),
        condition("c4", ICD10, "Z78.0", onset="yesterday"),
    )
    dates = {d.source.reference: d.source.date for d in facts.diagnoses}
    assert dates == {
        "Condition/c1": date(2021, 5, 1),
        "Condition/c2": date(2019, 1, 1),
        "Condition/c3": None,
    }
    assert "unreadable date" in messages(facts)
