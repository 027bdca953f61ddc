"""The test FHIR server answers like a FHIR R4 server: reads, searches, paging, bundles."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.fhir_fixtures import (
    SYNTHEA_DXA_BUNDLE,
    SYNTHEA_DXA_PATIENT,
    SYNTHEA_NEGATIVE_BUNDLE,
    SYNTHEA_NEGATIVE_PATIENT,
)
from tests.support.fhir_server import FhirServerError, RunningFhirServer, start_fhir_server

pytestmark = pytest.mark.integration

LOINC = "http://loinc.org"
DXA_T_SCORE = "38265-5"
SMOKING_STATUS = "72166-2"


def bundle_resources(path: Path, resource_type: str) -> list[dict[str, Any]]:
    bundle = json.loads(path.read_text())
    return [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type
    ]


def get(server: RunningFhirServer, path: str, **params: Any) -> requests.Response:
    return requests.get(f"{server.base_url}/{path}", params=params, timeout=10)


def search_all(server: RunningFhirServer, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every page of a search, following `next` links; checks each page on the way."""
    response = get(server, path, **params)
    resources: list[dict[str, Any]] = []
    for _ in range(100):
        assert response.status_code == 200, response.text
        assert response.headers["Content-Type"].startswith("application/fhir+json")
        page = response.json()
        assert page["resourceType"] == "Bundle"
        assert page["type"] == "searchset"
        resources += [e["resource"] for e in page.get("entry", [])]
        links = {link["relation"]: link["url"] for link in page["link"]}
        if "next" not in links:
            return resources
        response = requests.get(links["next"], timeout=10)
    raise AssertionError("paging did not end")


def test_started_with_the_fixture_patients(fhir_server: RunningFhirServer) -> None:
    assert fhir_server.patient_ids == (SYNTHEA_DXA_PATIENT, SYNTHEA_NEGATIVE_PATIENT)
    assert fhir_server.base_url == f"http://127.0.0.1:{fhir_server.port}/fhir"


def test_read_patient(fhir_server: RunningFhirServer) -> None:
    response = get(fhir_server, f"Patient/{SYNTHEA_DXA_PATIENT}")
    assert response.status_code == 200
    patient = response.json()
    assert patient["resourceType"] == "Patient"
    assert patient["id"] == SYNTHEA_DXA_PATIENT
    assert patient["gender"] == "female"
    assert patient["birthDate"] == "1937-06-03"


def test_read_unknown_id_is_404_operation_outcome(fhir_server: RunningFhirServer) -> None:
    response = get(fhir_server, "Patient/no-such-patient")
    assert response.status_code == 404
    assert response.json()["resourceType"] == "OperationOutcome"


def test_unknown_resource_type_is_404(fhir_server: RunningFhirServer) -> None:
    response = get(fhir_server, "Bonescan", patient=SYNTHEA_DXA_PATIENT)
    assert response.status_code == 404
    assert response.json()["resourceType"] == "OperationOutcome"


def test_loaded_references_point_at_server_ids(fhir_server: RunningFhirServer) -> None:
    observations = search_all(fhir_server, "Observation", patient=SYNTHEA_DXA_PATIENT)
    assert observations
    subjects = {o["subject"]["reference"] for o in observations}
    assert subjects == {f"Patient/{SYNTHEA_DXA_PATIENT}"}


@pytest.mark.parametrize("resource_type", ["Observation", "Condition", "MedicationRequest"])
def test_search_by_patient_returns_exactly_that_patients_resources(
    fhir_server: RunningFhirServer, resource_type: str
) -> None:
    expected = {r["id"] for r in bundle_resources(SYNTHEA_DXA_BUNDLE, resource_type)}
    found = search_all(fhir_server, resource_type, patient=SYNTHEA_DXA_PATIENT)
    ids = [r["id"] for r in found]
    assert len(ids) == len(set(ids)), "a resource came twice over the pages"
    assert set(ids) == expected


def test_search_by_patient_accepts_typed_reference_forms(fhir_server: RunningFhirServer) -> None:
    plain = {r["id"] for r in search_all(fhir_server, "Condition", patient=SYNTHEA_DXA_PATIENT)}
    typed = search_all(fhir_server, "Condition", patient=f"Patient/{SYNTHEA_DXA_PATIENT}")
    subject = search_all(fhir_server, "Condition", **{"subject:Patient": SYNTHEA_DXA_PATIENT})
    assert plain
    assert {r["id"] for r in typed} == plain
    assert {r["id"] for r in subject} == plain


def test_search_by_code_list_with_systems(fhir_server: RunningFhirServer) -> None:
    codes = f"{LOINC}|{DXA_T_SCORE},{LOINC}|{SMOKING_STATUS}"
    found = search_all(fhir_server, "Observation", patient=SYNTHEA_DXA_PATIENT, code=codes)
    expected = {
        o["id"]
        for o in bundle_resources(SYNTHEA_DXA_BUNDLE, "Observation")
        if any(c["code"] in {DXA_T_SCORE, SMOKING_STATUS} for c in o["code"]["coding"])
    }
    assert {o["id"] for o in found} == expected
    dxa = [o for o in found if o["code"]["coding"][0]["code"] == DXA_T_SCORE]
    assert len(dxa) == 1
    assert dxa[0]["valueQuantity"]["value"] == pytest.approx(-2.573, abs=0.001)


def test_search_by_code_with_wrong_system_finds_nothing(fhir_server: RunningFhirServer) -> None:
    found = search_all(
        fhir_server,
        "Observation",
        patient=SYNTHEA_DXA_PATIENT,
        code=f"http://snomed.info/sct|{DXA_T_SCORE}",
    )
    assert found == []


def test_negative_control_has_no_bone_data(fhir_server: RunningFhirServer) -> None:
    found = search_all(
        fhir_server,
        "Observation",
        patient=SYNTHEA_NEGATIVE_PATIENT,
        code=f"{LOINC}|{DXA_T_SCORE}",
    )
    assert found == []
    assert search_all(fhir_server, "Observation", patient=SYNTHEA_NEGATIVE_PATIENT)


def test_search_by_status(fhir_server: RunningFhirServer) -> None:
    requests_in_file = bundle_resources(SYNTHEA_DXA_BUNDLE, "MedicationRequest")
    statuses = {r["status"] for r in requests_in_file}
    for status in statuses:
        found = search_all(
            fhir_server, "MedicationRequest", patient=SYNTHEA_DXA_PATIENT, status=status
        )
        assert {r["id"] for r in found} == {
            r["id"] for r in requests_in_file if r["status"] == status
        }
    assert search_all(fhir_server, "MedicationRequest", status="entered-in-error") == []


def test_paging_with_count(fhir_server: RunningFhirServer) -> None:
    total = len(
        [
            o
            for o in bundle_resources(SYNTHEA_DXA_BUNDLE, "Observation")
            if o["subject"]["reference"].endswith(SYNTHEA_DXA_PATIENT)
        ]
    )
    first = get(fhir_server, "Observation", patient=SYNTHEA_DXA_PATIENT, _count=40).json()
    assert first["total"] == total
    assert len(first["entry"]) == 40
    links = {link["relation"]: link["url"] for link in first["link"]}
    assert links["next"].startswith(f"{fhir_server.base_url}/Observation?")
    assert "previous" not in links
    for entry in first["entry"]:
        resource = entry["resource"]
        assert entry["fullUrl"] == f"{fhir_server.base_url}/Observation/{resource['id']}"
        assert entry["search"] == {"mode": "match"}

    pages = [first]
    while "next" in {link["relation"] for link in pages[-1]["link"]}:
        url = next(link["url"] for link in pages[-1]["link"] if link["relation"] == "next")
        pages.append(requests.get(url, timeout=10).json())
    sizes = [len(p.get("entry", [])) for p in pages]
    assert sizes == [40] * (total // 40) + ([total % 40] if total % 40 else [])
    assert "previous" in {link["relation"] for link in pages[-1]["link"]}


def test_default_page_size_applies_without_count(fhir_server: RunningFhirServer) -> None:
    page = get(fhir_server, "Observation", patient=SYNTHEA_DXA_PATIENT).json()
    assert page["total"] > 50
    assert len(page["entry"]) == 50
    assert any(link["relation"] == "next" for link in page["link"])


def test_sort_by_date_descending(fhir_server: RunningFhirServer) -> None:
    page = get(
        fhir_server, "Observation", patient=SYNTHEA_DXA_PATIENT, _sort="-date", _count=5
    ).json()
    dates = [e["resource"]["effectiveDateTime"] for e in page["entry"]]
    assert dates == sorted(dates, reverse=True)
    latest = max(
        o["effectiveDateTime"] for o in bundle_resources(SYNTHEA_DXA_BUNDLE, "Observation")
    )
    assert dates[0] == latest


@pytest.mark.parametrize(
    "params",
    [{"no-such-parameter": "x"}, {"_count": "many"}, {"_offset": "-1"}, {"date": "gesoon"}],
)
def test_bad_search_is_400(fhir_server: RunningFhirServer, params: dict[str, str]) -> None:
    response = get(fhir_server, "Observation", **params)
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"


def test_batch_of_searches(fhir_server: RunningFhirServer) -> None:
    batch = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {
                "request": {
                    "method": "GET",
                    "url": f"Observation?patient={SYNTHEA_DXA_PATIENT}&code={DXA_T_SCORE}",
                }
            },
            {"request": {"method": "GET", "url": f"Patient/{SYNTHEA_NEGATIVE_PATIENT}"}},
        ],
    }
    response = requests.post(fhir_server.base_url, json=batch, timeout=10)
    assert response.status_code == 200
    result = response.json()
    assert result["type"] == "batch-response"
    searchset, patient = (e["resource"] for e in result["entry"])
    assert searchset["total"] == 1
    assert patient["id"] == SYNTHEA_NEGATIVE_PATIENT


def test_transaction_post_assigns_ids_and_rewrites_urn_references() -> None:
    with start_fhir_server([]) as server:
        bundle = json.loads(SYNTHEA_NEGATIVE_BUNDLE.read_text())
        response = requests.post(server.base_url, json=bundle, timeout=30)
        assert response.status_code == 200, response.text
        result = response.json()
        assert result["type"] == "transaction-response"
        assert all(e["response"]["status"] == "201" for e in result["entry"])
        locations = [e["response"]["location"] for e in result["entry"]]
        patient_id = next(loc for loc in locations if loc.startswith("Patient/")).split("/")[1]
        assert patient_id != SYNTHEA_NEGATIVE_PATIENT  # a plain POST gets server ids

        found = search_all(server, "Observation", patient=patient_id)
        assert len(found) == len(bundle_resources(SYNTHEA_NEGATIVE_BUNDLE, "Observation"))
        assert {o["subject"]["reference"] for o in found} == {f"Patient/{patient_id}"}
        encounters = {o["encounter"]["reference"] for o in found}
        assert all(ref.startswith("Encounter/") for ref in encounters)
        for ref in list(encounters)[:3]:
            assert get(server, ref).status_code == 200


def test_admin_load_reset_and_errors() -> None:
    with start_fhir_server([]) as server:
        assert server.patient_ids == ()
        assert server.load(SYNTHEA_NEGATIVE_BUNDLE) == [SYNTHEA_NEGATIVE_PATIENT]
        assert get(server, f"Patient/{SYNTHEA_NEGATIVE_PATIENT}").status_code == 200
        with pytest.raises(FhirServerError, match="cannot read"):
            server.load(Path("/nonexistent/bundle.json"))
        not_a_bundle = requests.post(
            f"{server.admin_url}/load", json={"resourceType": "Patient"}, timeout=10
        )
        assert not_a_bundle.status_code == 400
        server.reset()
        assert get(server, f"Patient/{SYNTHEA_NEGATIVE_PATIENT}").status_code == 404


def test_create_then_read() -> None:
    # Created in a private server: the session server's data stays as loaded.
    with start_fhir_server([]) as server:
        created = requests.post(
            f"{server.base_url}/Patient",
            json={"resourceType": "Patient", "gender": "female"},
            timeout=10,
        )
        assert created.status_code == 201
        location = created.headers["Location"]
        assert location.startswith(f"{server.base_url}/Patient/")
        assert requests.get(location, timeout=10).json()["gender"] == "female"


def test_malformed_json_body_is_400() -> None:
    with start_fhir_server([]) as server:
        response = requests.post(
            f"{server.base_url}/Patient",
            data=b"{not json",
            headers={"Content-Type": "application/fhir+json"},
            timeout=10,
        )
        assert response.status_code == 400
        assert response.json()["resourceType"] == "OperationOutcome"


def test_bundle_that_does_not_load_fails_start(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"resourceType": "Bundle", "type": "collection", "entry": []}')
    with pytest.raises(FhirServerError, match="cannot load"), start_fhir_server([broken]):
        pass


def test_process_is_stopped_on_exit() -> None:
    with start_fhir_server([]) as server:
        process = server.process
        assert process.poll() is None
    assert process.poll() is not None
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{server.base_url}/metadata", timeout=2)


def test_capability_statement(fhir_server: RunningFhirServer) -> None:
    statement = get(fhir_server, "metadata").json()
    assert statement["resourceType"] == "CapabilityStatement"
    assert statement["fhirVersion"] == "4.0.1"
    types = {r["type"] for r in statement["rest"][0]["resource"]}
    assert {"Patient", "Observation", "Condition", "MedicationRequest"} <= types
