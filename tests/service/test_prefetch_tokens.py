"""Prefetch token rendering (spec §Prefetch tokens) and the per-key prefetch plan."""

from __future__ import annotations

import pytest

from cds_service.prefetch import (
    UnresolvableToken,
    is_valid_token,
    plan_prefetch,
    render_template,
)

CONTEXT = {"patientId": "pat-1", "userId": "Practitioner/dr-7", "encounterId": "enc-9"}


def test_req_059_context_tokens_render() -> None:
    """REQ-59: context fields are written ``context.<field>``."""
    assert render_template("Patient/{{context.patientId}}", CONTEXT) == "Patient/pat-1"
    assert (
        render_template("Encounter?_id={{context.encounterId}}&x={{ context.patientId }}", CONTEXT)
        == "Encounter?_id=enc-9&x=pat-1"
    )
    assert render_template("{{context.userId}}", CONTEXT) == "Practitioner/dr-7"


@pytest.mark.parametrize(
    ("user_id", "token", "expected"),
    [
        ("Practitioner/dr-7", "userPractitionerId", "dr-7"),
        ("PractitionerRole/role-1", "userPractitionerRoleId", "role-1"),
        ("Patient/p-2", "userPatientId", "p-2"),
        ("RelatedPerson/rp-3", "userRelatedPersonId", "rp-3"),
    ],
)
def test_req_056_user_tokens_render_from_user_id(user_id: str, token: str, expected: str) -> None:
    """REQ-56: the four user identifiers come from context.userId."""
    context = {**CONTEXT, "userId": user_id}
    assert render_template(f"X?id={{{{{token}}}}}", context) == f"X?id={expected}"


def test_user_token_of_another_user_type_is_unresolvable() -> None:
    with pytest.raises(UnresolvableToken):
        render_template("Patient/{{userPatientId}}", CONTEXT)


def test_req_057_only_root_primitive_context_fields() -> None:
    """REQ-57: only root-level primitive context fields are tokens."""
    context = {**CONTEXT, "draftOrders": {"resourceType": "Bundle"}, "selections": ["a"]}
    for template in (
        "X?{{context.draftOrders}}",
        "X?{{context.selections}}",
        "X?{{context.draftOrders.entry}}",
        "X?{{context.missing}}",
    ):
        with pytest.raises(UnresolvableToken):
            render_template(template, context)
    assert not is_valid_token("context.draftOrders.entry")
    assert not is_valid_token("today()")
    assert not is_valid_token("patientId")
    assert is_valid_token("context.patientId")
    assert is_valid_token("userPractitionerRoleId")


def test_token_values_cannot_inject_query_parameters() -> None:
    context = {**CONTEXT, "encounterId": "e1&_include=*"}
    assert render_template("X?e={{context.encounterId}}", context) == "X?e=e1%26_include%3D%2A"


def test_plan_uses_present_trusts_null_and_refetches_missing_or_outcome() -> None:
    templates = {"a": "A?p=1", "b": "B?p=1", "c": "C?p=1", "d": "D?p=1"}
    outcome = {"resourceType": "OperationOutcome", "issue": [{"code": "timeout"}]}
    plan = plan_prefetch(
        templates, {"a": {"resourceType": "Bundle"}, "b": None, "d": outcome, "zzz": {}}
    )
    assert plan.supplied == {"a": {"resourceType": "Bundle"}, "b": None}
    assert plan.to_fetch == {"c": "C?p=1", "d": "D?p=1"}
    assert plan.client_errors == {"d": "timeout"}


def test_plan_without_prefetch_fetches_everything() -> None:
    templates = {"a": "A", "b": "B"}
    assert plan_prefetch(templates, None).to_fetch == templates
