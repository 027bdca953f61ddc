"""Arbitrary JSON never makes the mapper raise, and a large prefetch maps completely."""

from __future__ import annotations

from datetime import date
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fhir_mappings import build_facts

from .builders import (
    AS_OF,
    CPT,
    ICD10,
    LOINC,
    PID,
    RXNORM,
    SNOMED,
    bundle,
    condition,
    med_request,
    observation,
    patient,
)

FIELDS = [
    "resourceType", "id", "status", "intent", "code", "coding", "system", "display", "text",
    "subject", "reference", "valueQuantity", "value", "unit", "comparator", "valueString",
    "valueCodeableConcept", "valueInteger", "component", "hasMember", "result", "contained",
    "effectiveDateTime", "effectivePeriod", "start", "end", "issued", "birthDate", "gender",
    "onsetDateTime", "onsetAge", "onsetPeriod", "recordedDate", "verificationStatus",
    "clinicalStatus", "medicationCodeableConcept", "medicationReference", "authoredOn",
    "dispenseRequest", "validityPeriod", "expectedSupplyDuration", "numberOfRepeatsAllowed",
    "dosageInstruction", "route", "bodySite", "entry", "resource", "fullUrl", "performedDateTime",
    "performedPeriod", "occurrenceDateTime", "ingredient", "itemCodeableConcept", "form", "meta",
    "lastUpdated", "effectiveInstant", "dateAsserted", "patient",
]  # fmt: skip
TYPES = [
    "Bundle", "Patient", "Observation", "Condition", "MedicationRequest", "MedicationStatement",
    "Medication", "Procedure", "ServiceRequest", "DiagnosticReport", "OperationOutcome",
]  # fmt: skip
CODES = ["38267-1", "38265-5", "90265-0", "62292-8", "14635-7", "72166-2", "74013-4", "S72.001A",
         "M80.08XA", "904419", "312681000", "77080", "64859006", "75626-2", "83311-1"]  # fmt: skip
SYSTEMS = [LOINC, SNOMED, ICD10, RXNORM, CPT]
STRINGS = [
    PID, "Patient/p1", "#c", "urn:uuid:p1", "final", "amended", "active", "completed", "order",
    "2024", "2024-02", "2024-02-30", "2024-03-02T10:00:00+02:00", "<8", "-2.5", "nmol/L", "%",
    "{T-score}", "1", "{drinks}/wk", "a", "d", "female", "refuted", "entered-in-error",
]  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(STRINGS + CODES + SYSTEMS + TYPES),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.sampled_from(FIELDS), children, max_size=5),
    ),
    max_leaves=12,
)


@st.composite
def resources(draw: st.DrawFn) -> dict[str, Any]:
    resource = draw(st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=6))
    resource["resourceType"] = draw(st.sampled_from(TYPES))
    if draw(st.booleans()):
        resource["code"] = {
            "coding": [
                {"system": draw(st.sampled_from(SYSTEMS)), "code": draw(st.sampled_from(CODES))}
            ]
        }
    return resource


prefetches = st.dictionaries(
    st.sampled_from(["a", "b", "c"]),
    st.one_of(
        json_values,
        st.lists(resources(), max_size=6).map(lambda rs: bundle(*rs)),
        st.lists(st.lists(resources(), max_size=3).map(lambda rs: bundle(*rs)), max_size=3),
        resources(),
    ),
    max_size=4,
)


def _check(prefetch: Any) -> None:
    facts = build_facts(prefetch, patient_id=PID, as_of=AS_OF)
    # the per-family guard must never be what saved us: every defect is handled where it occurs
    assert not any("could not be read" in note.message for note in facts.notes)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prefetches)
def test_arbitrary_json_never_raises(prefetch: dict[str, Any]) -> None:
    _check(prefetch)


@settings(max_examples=100, deadline=None)
@given(json_values)
def test_arbitrary_top_level_values(value: Any) -> None:
    _check({"x": value})
    _check(value)


def test_wrong_types_in_known_fields() -> None:
    garbage: list[Any] = [None, 7, "x", [], {}, [1, "a", None], {"coding": "no"}, True, -1e308]
    resources: list[dict[str, Any]] = []
    for i, value in enumerate(garbage):
        for field in FIELDS:
            obs = observation(f"o{i}{field}", "38267-1", -1.5, "1")
            obs[field] = value
            cond = condition(f"c{i}{field}", "http://hl7.org/fhir/sid/icd-10-cm", "S72.001A")
            cond[field] = value
            med = med_request(f"m{i}{field}")
            med[field] = value
            resources += [obs, cond, med]
    _check({"all": bundle(patient(), *resources)})


def test_large_prefetch_maps_every_relevant_observation() -> None:
    vitals = [observation(f"v{i}", "8867-4", 70, "/min") for i in range(9_000)]
    scores = [
        observation(f"t{i}", "38267-1", -1.0 - i / 1000, "1", when=f"20{10 + i % 14}-01-01")
        for i in range(1_000)
    ]
    facts = build_facts(
        {"patient": patient(), "obs": [bundle(*vitals), bundle(*scores)]},
        patient_id=PID,
        as_of=date(2025, 1, 1),
    )
    assert len(facts.bone_density_scores) == 1_000
    assert len(facts.dxa_events) == 1_000


def test_huge_texts_are_cut_before_name_matching() -> None:
    noise = "x " * 500_000
    requests = [med_request(f"m{i}", None, noise + "alendronate") for i in range(5)]
    facts = build_facts({"x": bundle(patient(), *requests)}, patient_id=PID, as_of=AS_OF)
    assert facts.therapies == []  # the name lies beyond the text any drug name needs
