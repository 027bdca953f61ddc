"""Fragility-fracture history: sites, osteoporotic coding, onset and age, merged events."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from fhir_mappings.facts import FractureSite

from .builders import ICD10, SNOMED, condition, facts_of

# the builders' patient is born 1955-04-10


@pytest.mark.parametrize(
    ("system", "code", "site", "osteoporotic"),
    [
        (ICD10, "S72.001A", FractureSite.HIP, False),
        (ICD10, "S72.141A", FractureSite.HIP, False),
        (ICD10, "S32.010A", FractureSite.VERTEBRA, False),
        (ICD10, "S22.000A", FractureSite.VERTEBRA, False),
        (ICD10, "S52.501A", FractureSite.WRIST, False),
        (ICD10, "S42.201A", FractureSite.PROXIMAL_HUMERUS, False),
        (ICD10, "S32.301A", FractureSite.PELVIS, False),
        (ICD10, "M80.051A", FractureSite.HIP, True),
        (ICD10, "M80.08XA", FractureSite.VERTEBRA, True),
        (ICD10, "M80.031A", FractureSite.WRIST, True),
        (ICD10, "M80.0B1A", FractureSite.PELVIS, True),
        (ICD10, "M80.00XA", FractureSite.UNSPECIFIED, True),
        (ICD10, "M80.041A", FractureSite.OTHER, True),
        (ICD10, "Z87.310", FractureSite.UNSPECIFIED, True),
        (SNOMED, "443165006", FractureSite.UNSPECIFIED, True),
        (SNOMED, "431031001", FractureSite.HIP, True),
        (SNOMED, "203451004", FractureSite.VERTEBRA, True),
        (SNOMED, "359817006", FractureSite.HIP, False),
        (SNOMED, "42942008", FractureSite.VERTEBRA, False),
        (SNOMED, "263199001", FractureSite.WRIST, False),
    ],
)
def test_sites_and_osteoporotic_coding(
    system: str, code: str, site: FractureSite, osteoporotic: bool
) -> None:
    (fracture,) = facts_of(condition("c1", system, code, onset="2021-02-01")).fractures
    assert (fracture.site, fracture.osteoporotic_coded) == (site, osteoporotic)
    assert fracture.onset == date(2021, 2, 1)
    assert fracture.age_at_onset == pytest.approx(65.8, abs=0.05)
    assert fracture.is_fragility


def test_non_osteoporotic_sites_are_not_fragility_fractures() -> None:
    # ankle, finger, and Synthea's "fracture subluxation of wrist" (not a radius code)
    facts = facts_of(
        condition("c1", ICD10, "S82.61XA"),
        condition("c2", ICD10, "S62.600A"),
        condition("c3", SNOMED, "263102004"),
        condition("c4", ICD10, "M81.0"),  # osteoporosis *without* fracture
    )
    assert facts.fractures == []


def test_initial_subsequent_sequela_one_event() -> None:
    facts = facts_of(
        condition("a", ICD10, "S72.001A", onset="2021-02-01"),
        condition("d", ICD10, "S72.001D", onset="2021-04-01"),
        condition("s", ICD10, "S72001S", onset="2023-09-01"),
    )
    (fracture,) = facts.fractures
    assert fracture.code == "S72.001A" and fracture.onset == date(2021, 2, 1)
    assert [p.reference for p in fracture.sources] == ["Condition/a", "Condition/d", "Condition/s"]


def test_m80_plus_s72_is_one_osteoporotic_event() -> None:
    facts = facts_of(
        condition("s", ICD10, "S72.001A", onset="2021-02-01"),
        condition("m", ICD10, "M80.051A", onset="2021-02-03"),
        condition("snomed", SNOMED, "443165006", onset="2021-02-10"),
    )
    (fracture,) = facts.fractures
    assert fracture.site is FractureSite.HIP
    assert fracture.osteoporotic_coded
    assert len(fracture.sources) == 3


def test_two_breaks_years_apart_are_two_events() -> None:
    facts = facts_of(
        condition("a", ICD10, "S72.001A", onset="2015-02-01"),
        condition("b", ICD10, "S72.001A", onset="2021-02-01"),
    )
    assert [f.onset for f in facts.fractures] == [date(2015, 2, 1), date(2021, 2, 1)]


def test_resolved_fracture_still_counts_refuted_does_not() -> None:
    facts = facts_of(
        condition("a", ICD10, "S72.001A", clinical="resolved"),
        condition("b", ICD10, "S32.010A", verification="refuted"),
    )
    assert [f.source.reference for f in facts.fractures] == ["Condition/a"]


def test_age_at_onset_sources() -> None:
    facts = facts_of(
        condition("dt", ICD10, "S52.501A", onset="1985-06-01"),  # age 30
        condition("age", ICD10, "S42.201A", onset=None, onsetAge={"value": 12, "unit": "a"}),
        condition("per", ICD10, "S32.010A", onset=None, onsetPeriod={"start": "2016-01"}),
        condition("rec", ICD10, "S72.001A", onset=None, recordedDate="2022-01-01"),
        condition("none", ICD10, "M80.00XA", onset=None),
    )
    by_ref = {f.source.reference: f for f in facts.fractures}
    assert by_ref["Condition/dt"].age_at_onset == pytest.approx(30.1, abs=0.1)
    assert not by_ref["Condition/dt"].is_fragility  # a fracture at 30 is not an indication
    assert by_ref["Condition/age"].age_at_onset == 12
    assert by_ref["Condition/age"].onset == date(1967, 4, 10)
    assert not by_ref["Condition/age"].is_fragility
    assert by_ref["Condition/per"].age_at_onset == pytest.approx(60.7, abs=0.1)
    assert by_ref["Condition/rec"].onset == date(2022, 1, 1)
    assert by_ref["Condition/none"].onset is None and by_ref["Condition/none"].is_fragility


def test_osteoporotic_coded_fracture_before_50_still_fragility() -> None:
    (fracture,) = facts_of(condition("c1", ICD10, "M80.08XA", onset="2000-01-01")).fractures
    assert fracture.age_at_onset < 50 and fracture.is_fragility


def test_many_fracture_conditions_merge_per_event() -> None:
    # 4,000 Conditions: 1,000 hip breaks 200 days apart, each coded A, D, S and M80
    resources = []
    for i in range(1_000):
        onset = date(1900, 1, 1) + timedelta(days=200 * i)
        for suffix, code in (("a", "S72.001A"), ("d", "S72.001D"), ("s", "S72.001S"),
                             ("m", "M80.051A")):  # fmt: skip
            resources.append(condition(f"c{i}{suffix}", ICD10, code, onset=onset.isoformat()))
    facts = facts_of(*resources, as_of=date(2500, 1, 1))
    assert len(facts.fractures) == 1_000
    assert all(f.osteoporotic_coded and len(f.sources) == 4 for f in facts.fractures)
