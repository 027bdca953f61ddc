"""Kidney function, calcium and albumin (clinical-spec §0.1): units, equations, pairing."""

from __future__ import annotations

from datetime import date

import pytest

from fhir_mappings.facts import CalciumKind, KidneyMethod, Sex
from fhir_mappings.kidney_equations import ckd_epi_2021, cockcroft_gault

from .builders import facts_of, observation, patient


def test_ckd_epi_2021_matches_published_values() -> None:
    # By hand from Inker 2021: woman, 60, creatinine 1.0 mg/dL:
    # 142 × (1.0/0.7)^-1.200 × 0.9938^60 × 1.012 = 142 × 0.6518 × 0.6886 × 1.012 = 64.5;
    # man: 142 × (1.0/0.9)^-1.200 × 0.9938^60 = 142 × 0.8812 × 0.6886 = 86.2.
    assert ckd_epi_2021(1.0, 60, Sex.FEMALE) == pytest.approx(64.5, abs=0.1)
    assert ckd_epi_2021(1.0, 60, Sex.MALE) == pytest.approx(86.2, abs=0.1)
    # below kappa the alpha exponent applies: woman, 0.5 mg/dL, 60:
    # 142 × (0.5/0.7)^-0.241 × 0.6886 × 1.012 = 142 × 1.0845 × 0.6886 × 1.012 = 107.3
    assert ckd_epi_2021(0.5, 60, Sex.FEMALE) == pytest.approx(107.3, abs=0.2)
    assert ckd_epi_2021(1.0, 60, Sex.UNKNOWN) is None


def test_cockcroft_gault() -> None:
    # (140 - 80) × 50 / (72 × 1.2) × 0.85 = 29.5 mL/min
    assert cockcroft_gault(1.2, 80, 50, Sex.FEMALE) == pytest.approx(29.51, abs=0.01)
    assert cockcroft_gault(1.2, 80, 50, Sex.MALE) == pytest.approx(34.72, abs=0.01)


def test_reported_egfr_is_read_with_its_date_and_reference() -> None:
    facts = facts_of(observation("e1", "98979-8", 42, "mL/min/{1.73_m2}", when="2025-01-10"))
    (egfr,) = facts.kidney
    assert egfr.method is KidneyMethod.EGFR_REPORTED
    assert (egfr.value, egfr.source.reference, egfr.source.date) == (
        42,
        "Observation/e1",
        date(2025, 1, 10),
    )


def test_egfr_without_unit_is_unreadable_not_used() -> None:
    facts = facts_of(observation("e1", "33914-3", 25))
    assert facts.kidney == []
    (unreadable,) = facts.unreadable
    assert unreadable.what == "eGFR" and "no unit" in unreadable.reason


def test_creatinine_only_gives_ckd_epi_2021_egfr() -> None:
    # woman born 1955-04-10, creatinine 2024-03-02 at age 68
    facts = facts_of(observation("c1", "2160-0", 1.9, "mg/dL"))
    (egfr,) = facts.kidney
    assert egfr.method is KidneyMethod.EGFR_CKD_EPI_2021
    assert egfr.value == pytest.approx(ckd_epi_2021(1.9, 68, Sex.FEMALE))
    assert egfr.creatinine_mg_dl == 1.9


def test_creatinine_in_umol_per_litre_is_divided_by_88_4() -> None:
    facts = facts_of(observation("c1", "2160-0", 168, "umol/L"))
    (egfr,) = facts.kidney
    assert egfr.creatinine_mg_dl == pytest.approx(168 / 88.4)


def test_creatinine_with_weight_adds_cockcroft_gault() -> None:
    facts = facts_of(
        observation("c1", "2160-0", 1.2, "mg/dL", when="2025-01-10"),
        observation("w1", "29463-7", 50, "kg", when="2024-06-01"),
    )
    methods = {k.method: k for k in facts.kidney}
    crcl = methods[KidneyMethod.CRCL_COCKCROFT_GAULT]
    assert crcl.weight_kg == 50 and crcl.weight_source.reference == "Observation/w1"
    assert crcl.value == pytest.approx(cockcroft_gault(1.2, 69, 50, Sex.FEMALE))


def test_creatinine_without_sex_cannot_give_egfr() -> None:
    facts = facts_of(
        patient(gender="unknown"), observation("c1", "2160-0", 1.0, "mg/dL"), with_patient=False
    )
    assert facts.kidney == []
    assert "age and sex" in facts.unreadable[0].reason


def test_creatinine_in_unknown_unit_is_unreadable() -> None:
    facts = facts_of(observation("c1", "2160-0", 1.0, "mmol/L"))
    assert facts.kidney == []
    assert facts.unreadable[0].what == "creatinine"


@pytest.mark.parametrize(
    ("calcium", "calcium_unit", "albumin", "albumin_unit", "expected"),
    [
        (8.29, "mg/dL", 3.75, "g/dL", 8.49),
        (8.30, "mg/dL", 3.75, "g/dL", 8.50),
        (8.30, "mg/dL", 37.5, "g/L", 8.50),
        (2.07, "mmol/L", 37.5, "g/L", 2.12),
        (2.07, "mmol/L", 3.75, "g/dL", 2.12),
    ],
)
def test_total_calcium_is_corrected_for_albumin_in_either_unit(
    calcium: float, calcium_unit: str, albumin: float, albumin_unit: str, expected: float
) -> None:
    facts = facts_of(
        observation("ca", "17861-6", calcium, calcium_unit),
        observation("alb", "1751-7", albumin, albumin_unit),
    )
    (result,) = facts.calcium
    assert result.kind is CalciumKind.TOTAL and result.corrected
    assert result.value == pytest.approx(expected)
    assert result.albumin_source.reference == "Observation/alb"


def test_calcium_without_albumin_is_uncorrected() -> None:
    (result,) = facts_of(observation("ca", "17861-6", 8.4, "mg/dL")).calcium
    assert not result.corrected and result.value == 8.4


def test_ionized_calcium_keeps_the_laboratory_low_limit() -> None:
    ionized = observation(
        "ica",
        "1994-3",
        1.14,
        "mmol/L",
        referenceRange=[{"low": {"value": 1.12, "unit": "mmol/L"}}],
    )
    (result,) = facts_of(ionized).calcium
    assert result.kind is CalciumKind.IONIZED and result.reference_low == 1.12


def test_calcium_in_unknown_unit_is_unreadable() -> None:
    facts = facts_of(observation("ca", "17861-6", 8.4, "mEq/L"))
    assert facts.calcium == [] and facts.unreadable[0].what == "calcium"
