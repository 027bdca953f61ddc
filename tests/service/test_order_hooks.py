"""The order services over HTTP: discovery, context validation, the exchange, feedback, 412.

Statements of CDS Hooks 2.0.1 and the hook definitions of the CDS Hooks library
(order-select, order-sign) these tests cover are listed in docs/conformance.md.
"""

from __future__ import annotations

import copy
import json
import logging
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cds_service.cli import main
from cds_service.discovery import find_service
from cds_service.prefetch import is_valid_token, template_tokens
from tests.rules import fhir_builders as fb
from tests.rules.order_drafts import ALENDRONATE_SCD, draft_dxa, draft_medication, session
from tests.rules.test_gates import egfr

SELECT_URL = "/cds-services/osteopenia-order-select"
SIGN_URL = "/cds-services/osteopenia-order-sign"
PID = "order-pat"
ALENDRONATE = "MedicationRequest/draft-alendronate"


def _alendronate() -> dict[str, Any]:
    code, name = ALENDRONATE_SCD
    return draft_medication(PID, "draft-alendronate", name, code=code, supply_days=90)


def _prefetch(*resources: dict[str, Any]) -> dict[str, Any]:
    patient = fb.patient(PID, date.fromisoformat("1954-03-01"), "female")
    return fb.prefetch(patient, egfr(PID, 72), *resources)


ON_RALOXIFENE = fb.medication_statement(
    PID, "72143", "raloxifene 60 MG", date.fromisoformat("2025-01-10")
)


def _request(hook: str, drafts: dict[str, Any], **context: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "hook": hook,
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/order-test", "patientId": PID, "draftOrders": drafts},
        "prefetch": _prefetch(ON_RALOXIFENE),
    }
    if hook == "order-select":
        body["context"]["selections"] = [ALENDRONATE]
    body["context"].update(context)
    return body


@pytest.fixture
def order_client(app: Flask) -> FlaskClient:
    return app.test_client()


def _issue(response: Any) -> dict[str, Any]:
    body = response.get_json()
    assert body["resourceType"] == "OperationOutcome"
    return body["issue"][0]


# -- discovery ---------------------------------------------------------------------------------


def test_discovery_lists_the_order_services_with_patient_tokens_only(
    order_client: FlaskClient,
) -> None:
    services = {s["id"]: s for s in order_client.get("/cds-services").get_json()["services"]}
    assert services["osteopenia-order-select"]["hook"] == "order-select"
    assert services["osteopenia-order-sign"]["hook"] == "order-sign"
    management = services["osteopenia-management"]["prefetch"]
    for service_id in ("osteopenia-order-select", "osteopenia-order-sign"):
        prefetch = services[service_id]["prefetch"]
        assert prefetch == management  # the same data, from one list of templates
        for template in prefetch.values():
            for token in template_tokens(template):
                # CDS Hooks 2.0: only root-level primitive context fields; never draftOrders.
                assert is_valid_token(token), token
                assert "draftOrders" not in token and "selections" not in token


# -- context validation ------------------------------------------------------------------------


def _without(mapping: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if k != key}


BAD_CONTEXTS = [
    ("order-sign", lambda c: c.pop("draftOrders"), "context.draftOrders"),
    ("order-sign", lambda c: c.update(draftOrders=[]), "context.draftOrders"),
    (
        "order-sign",
        lambda c: c.update(draftOrders={"resourceType": "Patient"}),
        "context.draftOrders",
    ),
    ("order-sign", lambda c: c["draftOrders"].update(entry={}), "context.draftOrders.entry"),
    (
        "order-sign",
        lambda c: c["draftOrders"]["entry"].append({}),
        "context.draftOrders.entry[1].resource",
    ),
    (
        "order-sign",
        lambda c: c["draftOrders"]["entry"][0]["resource"].update(resourceType="Observation"),
        "context.draftOrders.entry[0].resource.resourceType",
    ),
    (  # found by the HTTP fuzzer: an unhashable resourceType was a 500
        "order-select",
        lambda c: c["draftOrders"]["entry"][0]["resource"].update(resourceType=[]),
        "context.draftOrders.entry[0].resource.resourceType",
    ),
    (
        "order-sign",
        lambda c: c["draftOrders"]["entry"][0]["resource"].pop("id"),
        "context.draftOrders.entry[0].resource.id",
    ),
    (
        "order-sign",
        lambda c: c["draftOrders"]["entry"][0]["resource"].pop("status"),
        "context.draftOrders.entry[0].resource.status",
    ),
    (
        "order-sign",
        lambda c: c["draftOrders"]["entry"].append(copy.deepcopy(c["draftOrders"]["entry"][0])),
        "context.draftOrders.entry[1].resource.id",
    ),
    (
        "order-sign",
        lambda c: c["draftOrders"]["entry"][0]["resource"].update(
            subject={"reference": "Patient/someone-else"}
        ),
        "context.draftOrders.entry[0].resource.subject",
    ),
    ("order-sign", lambda c: c.pop("userId"), "context.userId"),
    ("order-sign", lambda c: c.update(patientId="../x"), "context.patientId"),
    ("order-sign", lambda c: c.update(encounterId=7), "context.encounterId"),
    (
        "order-select",
        lambda c: c["draftOrders"]["entry"][0]["resource"].update(status="active"),
        "context.draftOrders.entry[0].resource.status",
    ),
    ("order-select", lambda c: c.pop("selections"), "context.selections"),
    ("order-select", lambda c: c.update(selections=[]), "context.selections"),
    ("order-select", lambda c: c.update(selections="MedicationRequest/x"), "context.selections"),
    ("order-select", lambda c: c.update(selections=["draft-alendronate"]), "context.selections[0]"),
    ("order-select", lambda c: c.update(selections=[ALENDRONATE, 5]), "context.selections[1]"),
    (
        "order-select",
        lambda c: c.update(selections=["MedicationRequest/not-in-the-bundle"]),
        "context.selections[0]",
    ),
]


@pytest.mark.parametrize(
    ("hook", "spoil", "field"), BAD_CONTEXTS, ids=[c[2] + "-" + c[0] for c in BAD_CONTEXTS]
)
def test_invalid_order_context_is_400_naming_the_field(
    order_client: FlaskClient, hook: str, spoil: Any, field: str
) -> None:
    body = _request(hook, session(_alendronate()))
    spoil(body["context"])
    url = SELECT_URL if hook == "order-select" else SIGN_URL
    response = order_client.post(url, json=body)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert _issue(response)["expression"] == [field]


def test_order_sign_accepts_orders_being_re_signed(order_client: FlaskClient) -> None:
    """order-sign 1.1.0: revised orders (not drafts) may come along; they are not judged."""
    revised = _alendronate()
    revised["status"] = "active"
    response = order_client.post(SIGN_URL, json=_request("order-sign", session(revised)))
    assert response.status_code == 200
    assert response.get_json()["cards"] == []


def test_each_order_service_serves_only_its_hook(order_client: FlaskClient) -> None:
    wrong = order_client.post(SIGN_URL, json=_request("order-select", session(_alendronate())))
    assert wrong.status_code == 400 and _issue(wrong)["expression"] == ["hook"]
    body = _request("order-sign", session(_alendronate()))
    assert order_client.post("/cds-services/osteopenia-management", json=body).status_code == 400


# -- the exchange ------------------------------------------------------------------------------


def test_delete_suggestion_names_the_draft_by_resource_id(order_client: FlaskClient) -> None:
    response = order_client.post(SIGN_URL, json=_request("order-sign", session(_alendronate())))
    assert response.status_code == 200
    (card,) = response.get_json()["cards"]
    assert card["source"]["topic"]["code"] == "O3"
    (suggestion,) = card["suggestions"]
    (action,) = suggestion["actions"]
    # CDS Hooks 2.0.1 Action: resourceId, a relative reference string; no resource on a delete.
    assert action == {
        "type": "delete",
        "description": f"Remove the draft order {ALENDRONATE}",
        "resourceId": ALENDRONATE,
    }
    assert suggestion["uuid"] and card["selectionBehavior"] == "any"


def test_order_select_judges_only_the_selected_drafts(order_client: FlaskClient) -> None:
    drafts = session(_alendronate(), draft_dxa(PID))
    body = _request("order-select", drafts, selections=["ServiceRequest/draft-dxa"])
    assert order_client.post(SELECT_URL, json=body).get_json()["cards"] == []
    body = _request("order-select", drafts, selections=[ALENDRONATE])
    cards = order_client.post(SELECT_URL, json=body).get_json()["cards"]
    assert [c["source"]["topic"]["code"] for c in cards] == ["O3"]


def test_feedback_on_an_order_card_is_accepted(order_client: FlaskClient) -> None:
    (card,) = order_client.post(
        SIGN_URL, json=_request("order-sign", session(_alendronate()))
    ).get_json()["cards"]
    feedback = {
        "feedback": [
            {
                "card": card["uuid"],
                "outcome": "accepted",
                "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}],
                "outcomeTimestamp": "2026-11-25T10:05:31Z",
            }
        ]
    }
    response = order_client.post(f"{SIGN_URL}/feedback", json=feedback)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["stored"] == 1
    assert response.get_json()["unknownCards"] == 0


def test_a_draft_the_checks_cannot_read_is_named_in_the_log_not_an_error(
    order_client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    unknown = draft_medication(PID, "draft-mystery", "Compound XJ-9 oral solution")
    body = _request("order-sign", session(unknown))
    with caplog.at_level(logging.INFO, logger="cds_service.requests"):
        response = order_client.post(SIGN_URL, json=body)
    assert response.status_code == 200
    assert response.get_json()["cards"] == []
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "cds_service.requests"]
    (line,) = [entry for entry in lines if entry.get("path") == SIGN_URL]
    assert line["draftsNotChecked"] == [
        "MedicationRequest/draft-mystery: no medication code or name the checks know"
    ]


def test_order_hook_without_data_or_fhir_server_is_412(order_client: FlaskClient) -> None:
    body = _request("order-sign", session(_alendronate()))
    body.pop("prefetch")
    response = order_client.post(SIGN_URL, json=body)
    assert response.status_code == 412
    service = find_service("osteopenia-order-sign", "order-sign")
    assert service is not None
    named = {i["expression"][0] for i in response.get_json()["issue"]}
    assert named == {f"prefetch.{key}" for key in service.prefetch}


def test_evaluate_command_accepts_order_request_files(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    for hook in ("order-select", "order-sign"):
        path = tmp_path / f"{hook}.json"
        path.write_text(json.dumps(_request(hook, session(_alendronate()))), encoding="utf-8")
        assert main(["evaluate", str(path), "--as-of", "2026-11-25"]) == 0
        cards = json.loads(capsys.readouterr().out)["cards"]
        assert [c["source"]["topic"]["code"] for c in cards] == ["O3"]


@pytest.mark.parametrize("rtype", [{"a": 1}, ["MedicationRequest"], 7, None])
def test_a_draft_whose_resource_type_is_not_a_string_is_a_400(
    order_client: FlaskClient, rtype: Any
) -> None:
    draft = _alendronate()
    draft["resourceType"] = rtype
    body = _request("order-select", session(draft))
    response = order_client.post(SELECT_URL, json=body)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert _issue(response)["expression"][0].endswith(".resourceType")
