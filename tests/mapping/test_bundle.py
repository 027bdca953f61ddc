"""Prefetch shapes, de-duplication, data hygiene, patient choice and other-patient data."""

from __future__ import annotations

from datetime import date

from fhir_mappings import build_facts
from fhir_mappings.facts import Sex

from .builders import AS_OF, PID, bundle, facts_of, messages, observation, patient

T_SPINE = "38267-1"


def _scores(prefetch: dict) -> list[float]:
    facts = build_facts(prefetch, patient_id=PID, as_of=AS_OF)
    return sorted(s.value for s in facts.bone_density_scores)


def test_searchset_bundle_and_patient_facts() -> None:
    facts = build_facts(
        {"patient": patient(), "obs": bundle(observation("o1", T_SPINE, -1.8, "{T-score}"))},
        patient_id=PID,
        as_of=AS_OF,
    )
    assert facts.birth_date == date(1955, 4, 10)
    assert facts.sex is Sex.FEMALE
    assert facts.patient_reference == "Patient/p1"
    assert [s.value for s in facts.bone_density_scores] == [-1.8]


def test_list_of_pages_is_joined() -> None:
    pages = [
        bundle(observation("o1", T_SPINE, -1.1, "1")),
        bundle(observation("o2", T_SPINE, -2.2, "1", when="2024-03-03")),
    ]
    assert _scores({"obs": pages}) == [-2.2, -1.1]


def test_single_resource_none_and_empty_values() -> None:
    prefetch = {"obs": observation("o1", T_SPINE, -1.5, "1"), "none": None, "empty": []}
    assert _scores(prefetch) == [-1.5]


def test_operation_outcome_entries_ignored() -> None:
    outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "warning"}]}
    b = bundle(observation("o1", T_SPINE, -1.5, "1"))
    b["entry"].append({"resource": outcome, "search": {"mode": "outcome"}})
    facts = build_facts({"obs": b, "oo": outcome}, patient_id=PID, as_of=AS_OF)
    assert len(facts.bone_density_scores) == 1


def test_transaction_and_collection_bundles() -> None:
    for kind in ("transaction", "collection", "batch-response"):
        assert _scores({"x": bundle(observation("o1", T_SPINE, -1.5, "1"), kind=kind)}) == [-1.5]


def test_duplicates_across_keys_count_once() -> None:
    obs = observation("o1", T_SPINE, -1.5, "1")
    assert _scores({"a": bundle(obs), "b": bundle(dict(obs)), "c": obs}) == [-1.5]


def test_hygiene_statuses_ignored() -> None:
    resources = [
        observation(f"o-{status}", T_SPINE, -3.0, "1", status=status)
        for status in ("entered-in-error", "cancelled", "preliminary", "registered")
    ]
    facts = facts_of(*resources, observation("ok", T_SPINE, -1.2, "1", status="final"))
    assert [s.value for s in facts.bone_density_scores] == [-1.2]


def test_amended_preferred_over_final_it_replaces() -> None:
    # same id, two versions: the amended one wins whatever the order
    final = observation("o1", T_SPINE, -2.6, "1")
    amended = observation("o1", T_SPINE, -2.1, "1", status="amended")
    assert _scores({"a": bundle(amended), "b": bundle(final)}) == [-2.1]
    assert _scores({"a": bundle(final), "b": bundle(amended)}) == [-2.1]
    # a corrected result with its own id replaces the final of the same code and time
    corrected = observation("o2", T_SPINE, -2.0, "1", status="corrected")
    assert _scores({"a": bundle(final, corrected)}) == [-2.0]
    # a final of another date is not replaced
    other_day = observation("o3", T_SPINE, -2.4, "1", when="2024-05-01")
    assert _scores({"a": bundle(final, corrected, other_day)}) == [-2.4, -2.0]


def test_a_retracted_copy_wins_over_the_final_one() -> None:
    final = observation("o1", T_SPINE, -2.6, "1")
    retracted = observation("o1", T_SPINE, -2.6, "1", status="entered-in-error")
    assert _scores({"a": bundle(final), "b": bundle(retracted)}) == []
    assert _scores({"a": bundle(retracted), "b": bundle(final)}) == []


def test_other_patients_data_ignored() -> None:
    foreign = observation("o2", T_SPINE, -3.5, "1")
    foreign["subject"] = {"reference": "http://other.example/fhir/Patient/someone-else"}
    facts = facts_of(observation("o1", T_SPINE, -1.5, "1"), foreign)
    assert [s.value for s in facts.bone_density_scores] == [-1.5]
    assert "another patient" in messages(facts)


def test_urn_uuid_subjects_resolve_to_the_patient() -> None:
    obs = observation("o1", T_SPINE, -1.5, "1")
    obs["subject"] = {"reference": f"urn:uuid:{PID}"}
    assert _scores({"x": bundle(patient(), obs, kind="transaction")}) == [-1.5]


def test_patient_chosen_by_id_else_the_only_one() -> None:
    two = {"x": bundle(patient("other", birth="1990-01-01"), patient(PID, birth="1950-02-03"))}
    assert build_facts(two, patient_id=PID, as_of=AS_OF).birth_date == date(1950, 2, 3)

    only = build_facts({"x": patient("server-id")}, patient_id=PID, as_of=AS_OF)
    assert only.birth_date == date(1955, 4, 10)
    assert "differs from the context patient" in messages(only)

    ambiguous = {"x": bundle(patient("a"), patient("b"))}
    facts = build_facts(ambiguous, patient_id=PID, as_of=AS_OF)
    assert facts.birth_date is None and facts.sex is Sex.UNKNOWN
    assert "none with id" in messages(facts)


def test_missing_or_bad_birth_date_is_noted() -> None:
    assert "no birthDate" in messages(
        build_facts({"p": patient(birth=None)}, patient_id=PID, as_of=AS_OF)
    )
    bad = build_facts({"p": patient(birth="1955-02-30")}, patient_id=PID, as_of=AS_OF)
    assert bad.birth_date is None and "not a date" in messages(bad)
    gender = build_facts({"p": patient(gender="banana")}, patient_id=PID, as_of=AS_OF)
    assert gender.sex is Sex.UNKNOWN


def test_no_patient_resource() -> None:
    facts = build_facts({"obs": observation("o1", T_SPINE, -1.5, "1")}, patient_id=PID, as_of=AS_OF)
    assert facts.birth_date is None
    assert "No Patient resource" in messages(facts)
    assert len(facts.bone_density_scores) == 1


def test_facts_after_evaluation_date_left_out() -> None:
    facts = facts_of(observation("o1", T_SPINE, -1.5, "1", when="2025-07-01"))
    assert facts.bone_density_scores == []
    assert "after the evaluation date" in messages(facts)
