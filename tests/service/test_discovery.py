"""Discovery (GET /cds-services) and the prefetch templates it declares."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit

import pytest
from flask.testing import FlaskClient

from cds_service.discovery import discovery_document, service_definitions
from cds_service.prefetch import is_valid_token, template_tokens
from fhir_mappings import codes as mapping_codes
from tests.service.conftest import SERVICE_ID


def _services(client: FlaskClient) -> list[dict]:
    response = client.get("/cds-services")
    assert response.status_code == 200
    return response.get_json()["services"]


def _templates() -> dict[str, str]:
    (service,) = [s for s in service_definitions() if s.id == SERVICE_ID]
    return service.prefetch


def test_req_004_005_discovery_endpoint_at_base_cds_services(service_client: FlaskClient) -> None:
    """REQ-4, REQ-5: discovery is at {baseUrl}/cds-services, called with GET."""
    response = service_client.get("/cds-services")
    assert response.status_code == 200
    assert response.mimetype == "application/json"


def test_req_013_discovery_success_is_200(service_client: FlaskClient) -> None:
    """REQ-13: a successful discovery answers 200 OK."""
    assert service_client.get("/cds-services").status_code == 200


def test_req_006_discovery_is_object_with_services_array(service_client: FlaskClient) -> None:
    """REQ-6: the response is an object holding an array of services."""
    body = service_client.get("/cds-services").get_json()
    assert set(body) == {"services"}
    assert isinstance(body["services"], list) and body["services"]


def test_req_007_009_010_service_has_hook_description_id(service_client: FlaskClient) -> None:
    """REQ-7 (hook), REQ-9 (description), REQ-10 (id): required string attributes."""
    for service in _services(service_client):
        for field in ("hook", "description", "id"):
            assert isinstance(service[field], str) and service[field].strip()


def test_osteopenia_management_on_patient_view(service_client: FlaskClient) -> None:
    (service,) = [s for s in _services(service_client) if s["id"] == SERVICE_ID]
    assert service["hook"] == "patient-view"
    assert service["title"] and service["usageRequirements"]
    assert len(service["description"]) > 50


def test_req_016_service_endpoint_is_base_plus_id(service_client: FlaskClient) -> None:
    """REQ-16: every discovered id is callable at {baseUrl}/cds-services/{id}."""
    for service in _services(service_client):
        response = service_client.post(f"/cds-services/{service['id']}", json={})
        assert response.status_code == 400  # the endpoint exists; the empty body is refused


def test_req_003_discovery_has_no_null_or_empty_values(service_client: FlaskClient) -> None:
    """REQ-3: no JSON element of the discovery response is null or empty."""

    def walk(value: object, path: str) -> None:
        assert value is not None, path
        if isinstance(value, str | list | dict):
            assert len(value) > 0, path
        if isinstance(value, dict):
            for key, child in value.items():
                walk(child, f"{path}.{key}")
        elif isinstance(value, list):
            for index, child in enumerate(value):
                walk(child, f"{path}[{index}]")

    walk(service_client.get("/cds-services").get_json(), "$")


def test_req_029_036_prefetch_templates_declared_with_keys(service_client: FlaskClient) -> None:
    """REQ-29, REQ-36: the service registers its prefetch templates in discovery, by key."""
    (service,) = [s for s in _services(service_client) if s["id"] == SERVICE_ID]
    prefetch = service["prefetch"]
    assert prefetch["patient"] == "Patient/{{context.patientId}}"
    resource_types = {template.split("?")[0].split("/")[0] for template in prefetch.values()}
    assert resource_types >= {
        "Patient",
        "Observation",
        "Condition",
        "MedicationRequest",
        "MedicationStatement",
        "Procedure",
        "ServiceRequest",
    }
    for key, template in prefetch.items():
        assert re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", key), key
        assert isinstance(template, str) and template


@pytest.mark.parametrize("key", sorted(_templates()))
def test_req_055_056_057_059_prefetch_tokens_are_valid(key: str) -> None:
    """REQ-55 ({{ }} delimiters), REQ-56 (context field or user*Id only), REQ-57 (root-level
    primitive context fields), REQ-59 (context fields written context.name)."""
    template = _templates()[key]
    assert template.count("{{") == template.count("}}")
    tokens = template_tokens(template)
    assert tokens, "every template is about the patient in context"
    for token in tokens:
        assert is_valid_token(token), token
        if token.startswith("context."):
            # patient-view's primitive, prefetch-token fields
            assert token in {"context.patientId", "context.userId", "context.encounterId"}


ALLOWED_SEARCH_PARAMETERS = {"patient", "code", "status", "_count", "_sort"}


@pytest.mark.parametrize("key", sorted(_templates()))
def test_prefetch_query_restrictions(key: str) -> None:
    """Spec §Prefetch query restrictions: instance read or type search; reference, token
    (equality, no modifiers) parameters, _count and _sort only."""
    template = _templates()[key]
    path, _, query = template.partition("?")
    assert re.fullmatch(r"[A-Z][A-Za-z]+(/\{\{context\.patientId\}\})?", path), path
    if "/" in path:
        assert not query, "a read carries no search parameters"
        return
    params = parse_qsl(query, keep_blank_values=True)
    assert params and params[0] == ("patient", "{{context.patientId}}")
    for name, value in params:
        assert ":" not in name, f"modifier in {name}"
        assert name in ALLOWED_SEARCH_PARAMETERS, name
        assert value
        if name == "code":
            for coding in value.split(","):
                system, bar, code = coding.partition("|")
                assert bar and urlsplit(system).scheme == "http" and code, coding


def _codes_in_templates() -> set[str]:
    codes: set[str] = set()
    for template in _templates().values():
        for name, value in parse_qsl(template.partition("?")[2]):
            if name == "code":
                codes.update(coding.partition("|")[2] for coding in value.split(","))
    return codes


def test_templates_cover_the_clinical_spec_input_codes() -> None:
    """Every LOINC/CPT/SNOMED code of clinical-spec §1 for Observations, DXA procedures and
    orders is requested by some template (copied here so the test runs without ../shared)."""
    required = {
        # DXA T-scores
        *[
            "38267-1",
            "104938-6",
            "38264-8",
            "80945-9",
            "80946-7",
            "38263-0",
            "80947-5",
            "80948-3",
            "38265-5",
            "80943-4",
            "80944-2",
        ],
        # DXA Z-scores (with left/right codes)
        *[
            "85394-5",
            "80933-5",
            "80934-3",
            "80932-7",
            "80937-6",
            "80938-4",
            "80939-2",
            "80940-0",
            "80935-0",
            "80936-8",
        ],
        # DXA study, FRAX, 25(OH)D, smoking, alcohol
        *[
            "38268-9",
            "83311-1",
            "90265-0",
            "90266-8",
            "62292-8",
            "83070-3",
            "1989-3",
            "14635-7",
            "49054-0",
        ],
        *[
            "72166-2",
            "11367-0",
            "74013-4",
            "75626-2",
        ],
        # DXA procedures
        *[
            "77080",
            "77081",
            "77085",
            "77086",
            "312681000",
        ],
    }
    assert required <= _codes_in_templates()


def test_templates_request_every_observation_code_the_mapping_reads() -> None:
    """An EHR that honours the templates sends every Observation the rules read: a code the
    mapping reads but no template asks for (a DXA reported only as BMD, an OST score, a BMI)
    would look absent to the rules, and R10 would offer a scan to a patient who had one."""
    missing = mapping_codes.OBSERVATION_CODES_OF_INTEREST - _codes_in_templates()
    assert not missing, f"no prefetch template asks for {sorted(missing)}"


def test_discovery_document_is_a_copy() -> None:
    document = discovery_document()
    document["services"][0]["prefetch"].clear()
    assert discovery_document()["services"][0]["prefetch"]


def test_discovery_answers_any_method_but_get_with_405(service_client: FlaskClient) -> None:
    response = service_client.post("/cds-services", json={})
    assert response.status_code == 405
    assert response.get_json()["resourceType"] == "OperationOutcome"
    assert "GET" in response.headers["Allow"]
