"""The OpenAPI document: valid OpenAPI 3.1, served, complete, and true of real responses."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from cds_service.discovery import discovery_document
from cds_service.openapi import openapi_document
from tests.openapi.contract import Contract, shared_contract
from tests.openapi.corpus import (
    ORDER_SERVICES,
    SERVICE_URL,
    fixture_files,
    hook_request_for,
    minimal_hook_request,
    order_request_for,
    prefetch_keys,
)

FEEDBACK_URL = f"{SERVICE_URL}/feedback"


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def conforms(response: Any, method: str, path: str) -> None:
    body = response.get_json(silent=True)
    problems = shared_contract().check_response(
        method, path, response.status_code, body, response.content_type
    )
    assert not problems, "\n".join(problems)


# -- the document itself ----------------------------------------------------------------------


def test_document_is_valid_openapi_3_1() -> None:
    document = openapi_document()
    assert document["openapi"].startswith("3.1.")
    validate(document)


def test_validator_would_catch_a_broken_document() -> None:
    document = openapi_document()
    document["paths"]["/healthz"]["get"]["responses"]["200"]["content"] = "not an object"
    with pytest.raises(OpenAPIValidationError):
        validate(document)


def test_every_ref_resolves() -> None:
    document = openapi_document()
    refs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.append(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    assert refs
    for ref in refs:
        target: Any = document
        for part in ref.removeprefix("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        assert isinstance(target, dict), ref


def test_served_document_is_the_packaged_one(client: FlaskClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == openapi_document()
    packaged = Path(__file__).resolve().parents[2] / "cds_service" / "openapi.json"
    assert json.loads(packaged.read_text("utf-8")) == openapi_document()


def test_document_is_public_when_authentication_is_on(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    issuers = tmp_path / "issuers.json"
    issuers.write_text(
        json.dumps(
            [
                {
                    "iss": "https://ehr.example.org",
                    "jwks_url": "http://127.0.0.1:9/.well-known/jwks.json",
                    "fhir_servers": ["http://127.0.0.1:9/fhir"],
                }
            ]
        )
    )
    client = make_app(trusted_issuers_file=issuers).test_client()
    assert client.get("/openapi.json").status_code == 200
    unauthenticated = client.get("/cds-services")
    assert unauthenticated.status_code == 401
    assert unauthenticated.headers["WWW-Authenticate"] == "Bearer"  # as documented
    conforms(unauthenticated, "get", "/cds-services")
    hook = client.post(SERVICE_URL, json=minimal_hook_request())
    assert hook.status_code == 401
    conforms(hook, "post", SERVICE_URL)


def test_every_route_is_documented_and_every_documented_operation_exists(app: Flask) -> None:
    contract = shared_contract()
    routed: set[tuple[str, str]] = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        template = rule.rule.replace("<", "{").replace(">", "}")
        for method in rule.methods or ():
            if method in {"HEAD", "OPTIONS"}:
                continue
            routed.add((method.lower(), template))
    documented = {
        (method, template)
        for template, item in contract.document["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }
    assert routed == documented


def test_prefetch_keys_are_those_of_discovery() -> None:
    properties = openapi_document()["components"]["schemas"]["Prefetch"]["properties"]
    assert list(properties) == prefetch_keys()
    services = discovery_document()["services"]
    documented_ids = openapi_document()["paths"]["/cds-services/{service_id}"]["post"][
        "parameters"
    ][0]["schema"]["enum"]
    assert sorted({s["id"] for s in services}) == documented_ids


def test_contract_rejects_what_cds_hooks_forbids() -> None:
    """The schemas are strict enough to catch the classic mistakes of CDS Hooks responses."""
    contract: Contract = shared_contract()
    card = {
        "uuid": "1b6c8f0e-6c1d-4f0e-9b67-2d1f3d0f5a11",
        "summary": "Bone density in the osteopenia range",
        "indicator": "info",
        "source": {"label": "BHOF 2022", "url": "https://www.bonehealthandosteoporosis.org/"},
    }
    pointer = "/components/schemas/HookResponse"
    assert contract.schema_errors(pointer, {"cards": [card]}) == []
    bad_cards = [
        {**card, "summary": "x" * 140},  # spec: under 140 characters
        {**card, "indicator": "hard-stop"},  # pre-1.0 indicator
        {**card, "detail": ""},  # empty members are forbidden
        {**card, "links": []},
        {**card, "suggestions": [{"label": "Order DXA"}]},  # selectionBehavior missing
        {**card, "source": {"label": "x", "url": "not a url"}},
        {
            **card,
            "links": [
                {"label": "x", "url": "https://example.org", "type": "absolute", "appContext": "a"}
            ],
        },
        {**card, "overrideReasons": [{"system": "s", "code": "c"}]},  # display required
        {k: v for k, v in card.items() if k != "source"},
    ]
    for bad in bad_cards:
        assert contract.schema_errors(pointer, {"cards": [bad]}), bad
    create_without_resource = {"type": "create", "description": "Order"}
    assert contract.schema_errors("/components/schemas/Action", create_without_resource)


# -- real responses ---------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", fixture_files(), ids=lambda p: p.stem.split("_")[0])
def test_hook_responses_for_real_patients_conform(client: FlaskClient, fixture: Path) -> None:
    request = hook_request_for(fixture)
    assert shared_contract().check_request("post", SERVICE_URL, request) == []
    response = client.post(SERVICE_URL, json=request)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    conforms(response, "post", SERVICE_URL)


@pytest.mark.parametrize("hook", sorted(ORDER_SERVICES))
def test_order_hook_requests_and_responses_conform(client: FlaskClient, hook: str) -> None:
    url = f"/cds-services/{ORDER_SERVICES[hook]}"
    for fixture in fixture_files()[:6]:
        request = order_request_for(fixture, hook)
        assert shared_contract().check_request("post", url, request) == []
        response = client.post(url, json=request)
        assert response.status_code == 200, response.get_data(as_text=True)[:500]
        conforms(response, "post", url)


def test_contract_rejects_a_delete_action_without_resource_id() -> None:
    contract: Contract = shared_contract()
    pointer = "/components/schemas/Action"
    good = {"type": "delete", "description": "Remove", "resourceId": "MedicationRequest/1"}
    assert contract.schema_errors(pointer, good) == []
    assert contract.schema_errors(pointer, {"type": "delete", "description": "Remove"})
    deprecated = {**good, "resource": {"resourceType": "MedicationRequest", "id": "1"}}
    assert contract.schema_errors(pointer, deprecated)


def test_the_corpus_exercises_suggestions_links_and_override_reasons(client: FlaskClient) -> None:
    """Validation only means something if the cards validated carry the optional parts."""
    seen: set[str] = set()
    for fixture in fixture_files():
        body = client.post(SERVICE_URL, json=hook_request_for(fixture)).get_json()
        for card in body["cards"]:
            seen.update(
                k for k in ("suggestions", "links", "overrideReasons", "detail") if k in card
            )
            for suggestion in card.get("suggestions", []):
                seen.update(f"action:{a['type']}" for a in suggestion.get("actions", []))
    assert {"suggestions", "links", "overrideReasons", "detail", "action:create"} <= seen


def _feedback_for(card: dict[str, Any]) -> dict[str, Any]:
    if card.get("suggestions"):
        return {
            "card": card["uuid"],
            "outcome": "accepted",
            "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}],
            "outcomeTimestamp": "2026-01-31T10:05:31Z",
        }
    item: dict[str, Any] = {
        "card": card["uuid"],
        "outcome": "overridden",
        "outcomeTimestamp": "2026-01-31T10:05:31Z",
    }
    if card.get("overrideReasons"):
        item["overrideReason"] = {"reason": card["overrideReasons"][0], "userComment": "n/a"}
    return item


def test_feedback_and_analytics_responses_conform(client: FlaskClient) -> None:
    cards = [
        card
        for fixture in fixture_files()[:8]
        for card in client.post(SERVICE_URL, json=hook_request_for(fixture)).get_json()["cards"]
    ]
    assert cards
    feedback = {"feedback": [_feedback_for(card) for card in cards]}
    assert shared_contract().check_request("post", FEEDBACK_URL, feedback) == []
    for _ in range(2):  # the second time, every item is a duplicate
        response = client.post(FEEDBACK_URL, json=feedback)
        assert response.status_code == 200
        conforms(response, "post", FEEDBACK_URL)
    assert response.get_json()["duplicates"] == len(cards)

    for query in ("", "?since=2020-01-01", "?since=2020-01-01&until=2030-12-31"):
        response = client.get(f"/analytics{query}")
        assert response.status_code == 200
        conforms(response, "get", "/analytics")
    bad_period = client.get("/analytics?since=yesterday")
    assert bad_period.status_code == 400
    conforms(bad_period, "get", "/analytics")


def _without(data: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != key}


ERROR_CASES: list[tuple[str, str, str, Callable[[], dict[str, Any]], int]] = [
    ("no context", "post", SERVICE_URL, lambda: _without(minimal_hook_request(), "context"), 400),
    ("no hook", "post", SERVICE_URL, lambda: _without(minimal_hook_request(), "hook"), 400),
    ("wrong hook", "post", SERVICE_URL, lambda: {**minimal_hook_request(), "hook": "x"}, 400),
    ("unknown service", "post", "/cds-services/nope", minimal_hook_request, 404),
    ("no prefetch", "post", SERVICE_URL, lambda: _without(minimal_hook_request(), "prefetch"), 412),
    ("empty feedback", "post", FEEDBACK_URL, lambda: {"feedback": []}, 400),
    ("feedback unknown service", "post", "/cds-services/nope/feedback", dict, 404),
]


@pytest.mark.parametrize(
    ("method", "path", "make_body", "status"),
    [case[1:] for case in ERROR_CASES],
    ids=[case[0] for case in ERROR_CASES],
)
def test_error_responses_conform(
    client: FlaskClient,
    method: str,
    path: str,
    make_body: Callable[[], dict[str, Any]],
    status: int,
) -> None:
    response = client.open(path, method=method.upper(), json=make_body())
    assert response.status_code == status
    conforms(response, method, path)


def test_transport_errors_conform(make_app: Callable[..., Flask]) -> None:
    client = make_app(max_body_bytes=4096).test_client()
    malformed = client.post(SERVICE_URL, data=b"{not json", content_type="application/json")
    assert malformed.status_code == 400
    conforms(malformed, "post", SERVICE_URL)
    wrong_type = client.post(SERVICE_URL, data=b"{}", content_type="text/plain")
    assert wrong_type.status_code == 415
    conforms(wrong_type, "post", SERVICE_URL)
    too_large = client.post(SERVICE_URL, data=b" " * 8192, content_type="application/json")
    assert too_large.status_code == 413
    conforms(too_large, "post", SERVICE_URL)
    for path, method in [
        (SERVICE_URL, "GET"),
        ("/cds-services", "POST"),
        (FEEDBACK_URL, "GET"),
        ("/healthz", "DELETE"),
    ]:
        response = client.open(path, method=method)
        assert response.status_code == 405
        assert "Allow" in response.headers
        conforms(response, method.lower(), path)


def test_discovery_and_probes_conform(client: FlaskClient) -> None:
    for path in ("/cds-services", "/healthz", "/readyz", "/openapi.json"):
        response = client.get(path)
        assert response.status_code == 200
        conforms(response, "get", path)
