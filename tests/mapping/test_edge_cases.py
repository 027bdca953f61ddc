"""clinical-research.md §4 edge cases that concern mapping, one test per item."""

from __future__ import annotations

from datetime import date

from fhir_mappings.facts import DrugClass, DxaSite, Laterality

from .builders import LOINC, RXNORM, concept, facts_of, med_request, messages, observation


def test_item_1_boundary_values_are_never_rounded() -> None:
    facts = facts_of(
        observation("a", "38267-1", -1.0, "1"),
        observation("b", "38264-8", -1.01, "1"),
        observation("c", "38263-0", -2.4999999, "1"),
        observation("d", "80946-7", valueString="-2.50"),
    )
    assert sorted(s.value for s in facts.bone_density_scores) == [-2.5, -2.4999999, -1.01, -1.0]


def test_item_2_all_sites_and_both_hips_are_kept() -> None:
    facts = facts_of(
        observation("spine", "38267-1", -2.1, "1"),
        observation("neck", "38263-0", -2.6, "1"),
        observation("hip", "38264-8", -1.8, "1"),
        observation("right", "80945-9", -1.9, "1"),
        observation("left", "80946-7", -2.2, "1"),
        observation("heel", "38266-3", -3.5, "1"),
    )
    got = {(s.site, s.laterality) for s in facts.bone_density_scores}
    assert got == {
        (DxaSite.LUMBAR_SPINE, Laterality.UNSPECIFIED),
        (DxaSite.FEMORAL_NECK, Laterality.UNSPECIFIED),
        (DxaSite.TOTAL_HIP, Laterality.UNSPECIFIED),
        (DxaSite.TOTAL_HIP, Laterality.RIGHT),
        (DxaSite.TOTAL_HIP, Laterality.LEFT),
    }


def test_item_4_statuses() -> None:
    facts = facts_of(
        observation("p", "62292-8", 12, "ng/mL", status="preliminary"),
        observation("e", "62292-8", 12, "ng/mL", status="entered-in-error"),
        observation("f", "62292-8", 35, "ng/mL", when="2024-05-05T08:00:00Z"),
        observation("c", "62292-8", 31, "ng/mL", when="2024-05-05T08:00:00Z", status="corrected"),
    )
    assert [(v.ng_per_ml, v.source.reference) for v in facts.vitamin_d] == [(31, "Observation/c")]


def test_item_8_total_and_analyte_traps() -> None:
    facts = facts_of(
        observation("d3", "1989-3", 18, "ng/mL"),
        observation("lt", "62292-8", valueString="<4.0"),
    )
    assert {(v.code, v.comparator, v.ng_per_ml) for v in facts.vitamin_d} == {
        ("1989-3", None, 18),
        ("62292-8", "<", 4.0),
    }


def test_item_15_long_bisphosphonate_course_across_renewals_and_codes() -> None:
    facts = facts_of(
        med_request("a", "904419", authored="2019-03-01", status="completed"),
        med_request("b", "904420", authored="2019-06-01", status="completed"),
        med_request("c", None, "alendronate sodium 70 MG Oral Tablet", authored="2020-01-01"),
    )
    (episode,) = facts.therapies
    assert episode.drug_class is DrugClass.ORAL_BISPHOSPHONATE
    assert [(p.start, p.end) for p in episode.periods] == [
        (date(2019, 3, 1), date(2019, 5, 30)),
        (date(2019, 6, 1), date(2019, 8, 30)),
        (date(2020, 1, 1), None),  # still active: open, the rules clamp to the evaluation date
    ]


def test_item_22_glucocorticoid_bursts_and_non_exposure() -> None:
    supply = {"expectedSupplyDuration": {"value": 10, "code": "d"}}
    facts = facts_of(
        med_request("b1", "312617", None, status="completed", authored="2024-01-01",
                    dispenseRequest=supply),
        med_request("b2", "763181", None, status="completed", authored="2024-03-01",
                    dispenseRequest=supply),
        med_request("p", "312617", None, intent="proposal", authored="2024-05-01"),
        med_request("inh", None, "budesonide 0.5 MG/ML Inhalation Suspension"),
        {"resourceType": "MedicationStatement", "id": "nt", "status": "not-taken",
         "medicationCodeableConcept": concept(RXNORM, "8640"), "effectiveDateTime": "2024-06-01"},
    )  # fmt: skip
    (episode,) = facts.therapies
    assert episode.drug_class is DrugClass.GLUCOCORTICOID
    assert [(p.start, p.end) for p in episode.periods] == [
        (date(2024, 1, 1), date(2024, 1, 11)),
        (date(2024, 3, 1), date(2024, 3, 11)),
    ]


def test_item_24_display_contradicting_the_code_follows_the_code() -> None:
    wrong = observation("w", "38250-5", -2.9, "1")
    wrong["code"] = concept(LOINC, "38250-5", "DXA Radius and Ulna [T-score] Bone density")
    facts = facts_of(wrong)
    assert facts.bone_density_scores == [] and facts.dxa_events == []


def test_item_24_procedure_without_result_is_an_event_only() -> None:
    procedure = {
        "resourceType": "Procedure",
        "id": "dxa",
        "status": "completed",
        "code": concept("http://www.ama-assn.org/go/cpt", "77080"),
        "performedDateTime": "2024",
    }
    facts = facts_of(procedure)
    assert facts.bone_density_scores == []
    assert [e.date for e in facts.dxa_events] == [date(2024, 1, 1)]
    assert "could not be read" not in messages(facts)
