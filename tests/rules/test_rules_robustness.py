"""Any combination of facts yields well-formed cards (R0–R9), never an exception."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds_service.engine import Engine
from fhir_mappings.facts import (
    AlcoholFact,
    BoneDensityScore,
    Diagnosis,
    DiagnosisKind,
    DrugClass,
    DxaEvent,
    DxaSite,
    FractureSite,
    FraxKind,
    FraxRisk,
    Laterality,
    MatchedBy,
    PatientFacts,
    Provenance,
    ScoreKind,
    Sex,
    SmokingFact,
    SmokingStatus,
    TherapyEpisode,
    TherapyPeriod,
    VitaminDLevel,
)
from fhir_mappings.facts import Fracture as FractureFact

from .card_rules import check_cards
from .conftest import AS_OF

dates = st.dates(min_value=date(1900, 1, 1), max_value=date(2030, 12, 31))
maybe_dates = st.none() | dates
text = st.text(min_size=0, max_size=30)
prov = st.builds(Provenance, st.just("Observation/x"), maybe_dates, st.none() | text)

scores = st.builds(
    BoneDensityScore,
    st.sampled_from(ScoreKind),
    st.sampled_from(DxaSite),
    st.sampled_from(Laterality),
    st.floats(-6, 4, allow_nan=False),
    prov,
)
frax = st.builds(FraxRisk, st.sampled_from(FraxKind), st.floats(0, 100), prov)
vitd = st.builds(
    VitaminDLevel,
    st.floats(0, 200),
    st.sampled_from([None, "<", ">", "<=", ">="]),
    st.floats(0, 500),
    st.sampled_from(["ng/mL", "nmol/L", ""]),
    prov,
)
diagnoses = st.builds(
    Diagnosis,
    st.sampled_from(DiagnosisKind),
    st.just("http://snomed.info/sct"),
    st.sampled_from(["312894000", "64859006", "34713006", "276703007", "289903006"]),
    prov,
    st.sampled_from([None, "active", "resolved"]),
)
fractures = st.builds(
    FractureFact,
    st.sampled_from(FractureSite),
    st.booleans(),
    maybe_dates,
    st.none() | st.floats(0, 110),
    st.just("http://hl7.org/fhir/sid/icd-10-cm"),
    st.just("S72.001A"),
    prov,
)


@st.composite
def periods(draw: st.DrawFn) -> TherapyPeriod:
    start = draw(dates)
    end = draw(st.none() | st.integers(-30, 4000).map(lambda d: start + timedelta(days=d)))
    return TherapyPeriod(start, end, draw(prov))


therapies = st.builds(
    TherapyEpisode,
    st.sampled_from(DrugClass),
    st.sampled_from(["alendronate", "denosumab", "prednisone", "zoledronic acid"]),
    st.sampled_from(MatchedBy),
    st.lists(periods(), min_size=1, max_size=3).map(tuple),
)

facts = st.builds(
    PatientFacts,
    st.just("Patient/fuzz"),
    birth_date=maybe_dates,
    sex=st.sampled_from(Sex),
    bone_density_scores=st.lists(scores, max_size=5),
    dxa_events=st.lists(st.builds(DxaEvent, dates, prov), max_size=2),
    frax=st.lists(frax, max_size=3),
    vitamin_d=st.lists(vitd, max_size=2),
    smoking=st.none() | st.builds(SmokingFact, st.sampled_from(SmokingStatus), prov),
    alcohol=st.none() | st.builds(AlcoholFact, st.floats(0, 20), prov),
    diagnoses=st.lists(diagnoses, max_size=4),
    fractures=st.lists(fractures, max_size=2),
    therapies=st.lists(therapies, max_size=3),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(patient=facts, as_of=st.sampled_from([AS_OF, date(2010, 6, 30)]))
def test_r0_to_r9_any_facts_give_well_formed_cards(
    engine: Engine, patient: PatientFacts, as_of: date
) -> None:
    cards = engine.cards_for_facts(patient, patient_id="fuzz", as_of=as_of)
    check_cards(cards, "fuzz")
