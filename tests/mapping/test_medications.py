"""Therapy episodes: code and name matching, Medication references, periods and statuses."""

from __future__ import annotations

from datetime import date

import pytest

from fhir_mappings.facts import DrugClass, MatchedBy

from .builders import RXNORM, SNOMED, concept, facts_of, med_request, messages


def only_episode(*resources: dict):
    (episode,) = facts_of(*resources).therapies
    return episode


def test_synthea_alendronate_scd_by_code() -> None:
    episode = only_episode(med_request("m1"))
    assert (episode.drug_class, episode.ingredient, episode.matched_by) == (
        DrugClass.ORAL_BISPHOSPHONATE,
        "alendronate",
        MatchedBy.CODE,
    )
    (period,) = episode.periods
    assert (period.start, period.end, period.status) == (date(2020, 1, 15), None, "active")
    assert period.source.reference == "MedicationRequest/m1"


@pytest.mark.parametrize(
    ("code", "display", "drug_class", "ingredient", "matched_by"),
    [
        ("904420", None, DrugClass.ORAL_BISPHOSPHONATE, "alendronate", MatchedBy.CODE),
        ("46041", None, DrugClass.ORAL_BISPHOSPHONATE, "alendronate", MatchedBy.CODE),
        (
            "999001",
            "Fosamax 70 MG Oral Tablet",
            DrugClass.ORAL_BISPHOSPHONATE,
            "alendronate",
            MatchedBy.INGREDIENT_NAME,
        ),
        (
            None,
            "risedronate sodium 35 MG Oral Tablet",
            DrugClass.ORAL_BISPHOSPHONATE,
            "risedronate",
            MatchedBy.INGREDIENT_NAME,
        ),
        (
            None,
            "ibandronic acid 1 MG/ML Prefilled Syringe",
            DrugClass.IV_BISPHOSPHONATE,
            "ibandronate",
            MatchedBy.INGREDIENT_NAME,
        ),
        (
            "77655",
            "zoledronic acid",
            DrugClass.IV_BISPHOSPHONATE,
            "zoledronic acid",
            MatchedBy.CODE,
        ),
        (
            None,
            "Prolia 60 mg/mL syringe",
            DrugClass.DENOSUMAB,
            "denosumab",
            MatchedBy.INGREDIENT_NAME,
        ),
        (
            None,
            "teriparatide 20 MCG/DOSE pen",
            DrugClass.ANABOLIC,
            "teriparatide",
            MatchedBy.INGREDIENT_NAME,
        ),
        (None, "Evenity", DrugClass.ANABOLIC, "romosozumab", MatchedBy.INGREDIENT_NAME),
        ("72143", None, DrugClass.RALOXIFENE, "raloxifene", MatchedBy.CODE),
        ("1897", None, DrugClass.CALCIUM, "calcium", MatchedBy.CODE),
        (
            None,
            "Vitamin D3 1000 UNT Oral Capsule",
            DrugClass.VITAMIN_D,
            "cholecalciferol",
            MatchedBy.INGREDIENT_NAME,
        ),
        ("312617", None, DrugClass.GLUCOCORTICOID, "prednisone", MatchedBy.CODE),
        ("197579", None, DrugClass.GLUCOCORTICOID, "dexamethasone", MatchedBy.CODE),
        (
            None,
            "methylprednisolone 4 MG Oral Tablet",
            DrugClass.GLUCOCORTICOID,
            "methylprednisolone",
            MatchedBy.INGREDIENT_NAME,
        ),
        ("199224", None, DrugClass.AROMATASE_INHIBITOR, "anastrozole", MatchedBy.CODE),
        ("752884", None, DrugClass.ANDROGEN_DEPRIVATION, "leuprolide", MatchedBy.CODE),
        ("6691", None, DrugClass.OTHER_BONE_LOSS, "medroxyprogesterone", MatchedBy.CODE),
    ],
)
def test_classes(code, display, drug_class, ingredient, matched_by) -> None:
    episode = only_episode(med_request("m1", code, display))
    assert (episode.drug_class, episode.ingredient, episode.matched_by) == (
        drug_class,
        ingredient,
        matched_by,
    )


@pytest.mark.parametrize(
    "display",
    ["hydrocortisone 1 % Topical Cream", "budesonide 0.18 MG/ACTUAT Inhaler",
     "fluticasone nasal spray", "Simvastatin 20 MG Oral Tablet", "prednisolone acetate eye drops"],
)  # fmt: skip
def test_non_systemic_steroids_and_other_drugs_not_matched(display: str) -> None:
    assert facts_of(med_request("m1", None, display)).therapies == []


def test_route_decides_for_an_ingredient_code() -> None:
    topical = med_request(
        "m1", "5492", "hydrocortisone", dosageInstruction=[{"route": concept(SNOMED, "6064005")}]
    )
    oral = med_request(
        "m2", "5492", "hydrocortisone", dosageInstruction=[{"route": concept(SNOMED, "26643006")}]
    )
    assert [p.source.reference for p in only_episode(topical, oral).periods] == [
        "MedicationRequest/m2"
    ]


def test_medication_reference_contained_and_bundled() -> None:
    contained = med_request("m1", None, None, medicationReference={"reference": "#med"})
    contained["contained"] = [
        {"resourceType": "Medication", "id": "med", "code": concept(RXNORM, "904419")}
    ]
    bundled = med_request(
        "m2", None, None, authored="2021-01-01", medicationReference={"reference": "Medication/x"}
    )
    medication = {
        "resourceType": "Medication",
        "id": "x",
        "code": {"text": "Actonel 35 mg"},
        "ingredient": [{"itemCodeableConcept": concept(RXNORM, "73056")}],
    }
    dangling = med_request("m3", None, None, medicationReference={"reference": "Medication/none"})
    facts = facts_of(contained, bundled, medication, dangling)
    assert {(t.ingredient, t.matched_by) for t in facts.therapies} == {
        ("alendronate", MatchedBy.CODE),
        ("risedronate", MatchedBy.CODE),
    }


def test_statement_with_medication_reference_display_only() -> None:
    statement = {
        "resourceType": "MedicationStatement",
        "id": "s1",
        "status": "active",
        "medicationReference": {"display": "Alendronate 70 mg weekly"},
        "effectiveDateTime": "2022-03-01",
    }
    episode = only_episode(statement)
    assert episode.matched_by is MatchedBy.INGREDIENT_NAME
    assert (episode.periods[0].start, episode.periods[0].end) == (date(2022, 3, 1), None)


def test_request_periods() -> None:
    validity = med_request(
        "v", status="completed",
        dispenseRequest={"validityPeriod": {"start": "2019-01-01", "end": "2019-12-31"}},
    )  # fmt: skip
    supply = med_request(
        "s", status="completed", authored="2020-01-01",
        dispenseRequest={"expectedSupplyDuration": {"value": 30, "unit": "days", "code": "d"},
                         "numberOfRepeatsAllowed": 2},
    )  # fmt: skip
    stopped = med_request("t", status="stopped", authored="2021-01-01")
    weeks = med_request(
        "w", status="completed", authored="2022-01-01",
        dispenseRequest={"expectedSupplyDuration": {"value": 4, "code": "wk"}},
    )  # fmt: skip
    active = med_request("a", status="active", authored="2023-01-01")
    periods = {p.source.reference.split("/")[1]: (p.start, p.end) for p in only_episode(
        validity, supply, stopped, weeks, active).periods}  # fmt: skip
    assert periods == {
        "v": (date(2019, 1, 1), date(2019, 12, 31)),
        "s": (date(2020, 1, 1), date(2020, 3, 31)),  # 30 days × (2 repeats + 1)
        "t": (date(2021, 1, 1), date(2021, 4, 1)),  # unknown supply: 90 days
        "w": (date(2022, 1, 1), date(2022, 1, 29)),
        "a": (date(2023, 1, 1), None),
    }


def test_statuses_and_intents_that_are_not_exposure() -> None:
    ignored = [
        med_request("d", status="draft"),
        med_request("c", status="cancelled"),
        med_request("e", status="entered-in-error"),
        med_request("p", intent="proposal"),
        med_request("l", intent="plan"),
        med_request("f", authored="2026-01-01"),  # after the evaluation date
    ]
    assert facts_of(*ignored).therapies == []


def test_statement_statuses_and_periods() -> None:
    def statement(sid: str, status: str, **extra: object) -> dict:
        drug = concept(RXNORM, "8640", "prednisone")
        return {"resourceType": "MedicationStatement", "id": sid, "status": status,
                "medicationCodeableConcept": drug, **extra}  # fmt: skip

    facts = facts_of(
        statement("nt", "not-taken", effectiveDateTime="2022-01-01"),
        statement("ee", "entered-in-error", effectiveDateTime="2022-01-01"),
        statement("per", "completed", effectivePeriod={"start": "2022-01-01", "end": "2022-02-15"}),
        statement("open", "active", effectivePeriod={"start": "2023-01-01"}),
        statement("day", "completed", effectiveDateTime="2021-06-01"),
        statement("nodate", "active"),
    )
    (episode,) = facts.therapies
    assert episode.drug_class is DrugClass.GLUCOCORTICOID
    assert [(p.start, p.end) for p in episode.periods] == [
        (date(2021, 6, 1), date(2021, 6, 1)),
        (date(2022, 1, 1), date(2022, 2, 15)),
        (date(2023, 1, 1), None),
    ]
    assert "without a usable date" in messages(facts)


def test_periods_of_several_codes_join_one_episode() -> None:
    episode = only_episode(
        med_request("m1", "904419", authored="2015-01-01", status="completed"),
        med_request("m2", None, "alendronate 70 MG Oral Tablet", authored="2016-01-01"),
    )
    assert episode.matched_by is MatchedBy.CODE
    assert [p.start for p in episode.periods] == [date(2015, 1, 1), date(2016, 1, 1)]


def test_order_without_start_is_noted() -> None:
    facts = facts_of(med_request("m1", authored=None), med_request("m2", authored="someday"))
    assert facts.therapies == []
    assert "without a start date" in messages(facts) and "unreadable authoredOn" in messages(facts)


def test_administered_infusions_cover_their_dosing_interval() -> None:
    def given(aid: str, code: str, when: str, status: str = "completed") -> dict:
        drug = concept(RXNORM, code)
        return {"resourceType": "MedicationAdministration", "id": aid, "status": status,
                "medicationCodeableConcept": drug, "effectiveDateTime": when}  # fmt: skip

    facts = facts_of(
        given("z1", "77655", "2023-03-01"),
        given("d1", "993449", "2024-01-10T09:00:00Z"),
        given("d2", "993449", "2024-07-10", status="not-done"),
        given("d3", "993449", "2024-08-10", status="entered-in-error"),
    )
    periods = {t.ingredient: [(p.start, p.end) for p in t.periods] for t in facts.therapies}
    assert periods == {
        "zoledronic acid": [(date(2023, 3, 1), date(2024, 2, 28))],
        "denosumab": [(date(2024, 1, 10), date(2024, 7, 10))],
    }


def test_do_not_perform_order_is_not_exposure() -> None:
    assert facts_of(med_request("m1", doNotPerform=True)).therapies == []
