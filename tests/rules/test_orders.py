"""Draft orders: validated FHIR R4 templates, copied per request with the patient filled in."""

from __future__ import annotations

import re

import pytest
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.servicerequest import ServiceRequest

from cds_service.guideline.recommendation import OrderKind, Reason
from cds_service.orderables import RXNORM, orderables
from cds_service.orders import draft_order, order_label, validate_all_templates
from fhir_mappings.codes import INGREDIENTS, MEDICATION_CODES, ingredient_from_words

from .card_rules import check_resource

# (RxNorm codes, clinical drug first then ingredient; dose; period unit). The codes and how
# each was checked are in cds_service/orderables.json.
EXPECTED = {
    OrderKind.ALENDRONATE: (["904431", "46041"], 70, "wk"),
    OrderKind.RISEDRONATE: (["905024", "73056"], 35, "wk"),
    # low-dose cholecalciferol is a dietary supplement: no listed product, ingredient only
    OrderKind.CHOLECALCIFEROL: (["2418"], 800, "d"),
    # v2: one tablet (calcium carbonate 1,000 mg chewable, 400 mg elemental): salt and
    # elemental weights are never one dose number
    OrderKind.CALCIUM: (["308892", "1897"], 1, "d"),
}


@pytest.mark.parametrize("kind", list(OrderKind))
def test_orders_every_template_validates_and_names_the_patient(kind: OrderKind) -> None:
    validate_all_templates()
    resource = draft_order(kind, "pat-1.a")
    check_resource(resource, "pat-1.a")
    model = MedicationRequest if resource["resourceType"] == "MedicationRequest" else ServiceRequest
    model.model_validate(resource)
    assert order_label(kind)


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_orders_medication_codes_doses_and_timing(kind: OrderKind) -> None:
    codes, dose, unit = EXPECTED[kind]
    resource = draft_order(kind, "p")
    assert resource["resourceType"] == "MedicationRequest"
    codings = resource["medicationCodeableConcept"]["coding"]
    assert [c["code"] for c in codings] == codes
    assert {c["system"] for c in codings} == {RXNORM}
    dosage = resource["dosageInstruction"][0]
    assert dosage["doseAndRate"][0]["doseQuantity"]["value"] == dose
    assert dosage["timing"]["repeat"] == {"frequency": 1, "period": 1, "periodUnit": unit}


def test_orders_vitamin_d_repletion_is_the_50000_iu_capsule_weekly_for_8_weeks() -> None:
    resource = draft_order(OrderKind.VITAMIN_D_REPLETION, "p")
    codings = resource["medicationCodeableConcept"]["coding"]
    assert [(c["code"], c["display"]) for c in codings] == [
        ("705728", "cholecalciferol 1.25 MG Oral Capsule"),
        ("2418", "cholecalciferol"),
    ]
    dosage = resource["dosageInstruction"][0]
    assert dosage["doseAndRate"][0]["doseQuantity"] == {
        "value": 50000,
        "unit": "IU",
        "system": "http://unitsofmeasure.org",
        "code": "[IU]",
    }
    assert dosage["timing"]["repeat"]["boundsDuration"]["value"] == 8
    assert resource["dispenseRequest"]["quantity"]["value"] == 8


_STRENGTH = re.compile(r"(\d+(?:\.\d+)?) (MG|UNT)\b")


@pytest.mark.parametrize("key", sorted(orderables()))
def test_orders_each_product_code_matches_its_strength_and_was_checked(key: str) -> None:
    """A clinical drug code whose strength differs from the draft's would order the wrong
    dose with one click: the SCD's name carries the strength the draft's text states."""
    product = orderables()[key]
    if product.scd is None:
        assert product.scd_why and "no clinical drug code could be checked" in product.scd_why
    else:
        found = _STRENGTH.search(product.scd.display)
        assert found, product.scd.display
        assert float(found.group(1)) == product.strength_value
        assert found.group(2).lower() == product.strength_unit.lower()
        assert f"{product.strength_value:,g} {product.strength_unit}".lower() in product.text
        assert re.match(
            r"\d{4}-\d{2}-\d{2}: (FDA NDC directory|two independent)", product.scd.verified
        )
    if product.ingredient is not None:
        assert product.ingredient.verified
    else:
        assert product.ingredient_why


@pytest.mark.parametrize("key", sorted(orderables()))
def test_orders_each_product_code_is_read_back_as_its_drug_class(key: str) -> None:
    """The order checks read a draft we offered by its codes: each code of each product is a
    known code of the same ingredient class as the product's name."""
    product = orderables()[key]
    by_name = ingredient_from_words(product.text)
    assert by_name is not None
    for rx in (product.scd, product.ingredient):
        if rx is not None:
            known = MEDICATION_CODES[(RXNORM, rx.code)]
            assert INGREDIENTS[known.ingredient].drug_class == INGREDIENTS[by_name].drug_class


def test_orders_service_request_codes() -> None:
    dxa = draft_order(OrderKind.DXA, "p")
    assert [(c["system"], c["code"]) for c in dxa["code"]["coding"]] == [
        ("http://www.ama-assn.org/go/cpt", "77080"),
        ("http://loinc.org", "38268-9"),
    ]
    lab = draft_order(OrderKind.VITAMIN_D_TEST, "p")
    assert lab["code"]["coding"][0]["code"] == "62292-8"
    referral = draft_order(OrderKind.REFERRAL, "p")
    assert referral["code"]["coding"][0] == {
        "system": "http://snomed.info/sct",
        "code": "306118006",
        "display": "Referral to endocrinology service (procedure)",
    }


def test_orders_dxa_carries_its_reason_code() -> None:
    reason = Reason("Osteopenia", "http://snomed.info/sct", "312894000", "Osteopenia (disorder)")
    dxa = draft_order(OrderKind.DXA, "p", reason)
    ServiceRequest.model_validate(dxa)
    assert dxa["reasonCode"] == [
        {
            "coding": [
                {
                    "system": "http://snomed.info/sct",
                    "code": "312894000",
                    "display": "Osteopenia (disorder)",
                }
            ],
            "text": "Osteopenia",
        }
    ]
    dxa["reasonCode"][0]["coding"][0]["code"] = "changed"
    assert draft_order(OrderKind.DXA, "q", reason)["reasonCode"][0]["coding"][0]["code"] == (
        "312894000"
    )
    screening = draft_order(OrderKind.DXA, "p", Reason("Osteoporosis screening, USPSTF 2025"))
    assert screening["reasonCode"] == [{"text": "Osteoporosis screening, USPSTF 2025"}]
    assert "reasonCode" not in draft_order(OrderKind.ALENDRONATE, "p", reason)
    assert "reasonReference" not in dxa
    linked = Reason("Osteopenia", condition="Condition/c-1")
    assert draft_order(OrderKind.DXA, "p", linked)["reasonReference"] == [
        {"reference": "Condition/c-1"}
    ]
    odd = Reason("Osteopenia", condition="Condition/../x y")
    assert "reasonReference" not in draft_order(OrderKind.DXA, "p", odd)


def test_orders_are_independent_copies() -> None:
    first = draft_order(OrderKind.ALENDRONATE, "a")
    first["dosageInstruction"][0]["text"] = "changed"
    second = draft_order(OrderKind.ALENDRONATE, "b")
    assert second["dosageInstruction"][0]["text"] != "changed"
    assert second["subject"] == {"reference": "Patient/b"}


@pytest.mark.parametrize("bad", ["", "a/b", "x" * 65, "a b", "<script>"])
def test_orders_refuse_an_invalid_patient_id(bad: str) -> None:
    with pytest.raises(ValueError):
        draft_order(OrderKind.DXA, bad)


def _containers(value: object) -> list[object]:
    found: list[object] = []
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict | list):
            found.append(node)
            stack.extend(node.values() if isinstance(node, dict) else node)
    return found


@pytest.mark.parametrize("kind", list(OrderKind))
def test_orders_share_no_object_between_calls_and_match_the_template(kind: OrderKind) -> None:
    first = draft_order(kind, "a")
    second = draft_order(kind, "b")
    assert {id(c) for c in _containers(first)}.isdisjoint(id(c) for c in _containers(second))
    first.pop("subject")
    second.pop("subject")
    assert first == second
    assert types_of(first) == types_of(second)
    # Scribbling on every container of one draft leaves the next one untouched.
    for node in _containers(first):
        if isinstance(node, dict):
            node["scribbled"] = True
        else:
            node.append("scribbled")
    assert "scribbled" not in repr(draft_order(kind, "c"))


def types_of(value: object) -> list[str]:
    return [type(c).__name__ for c in _containers(value)]
