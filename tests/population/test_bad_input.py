"""Bad input is counted and shown, never fatal: the run completes for every readable patient,
and the exit status says that something was rejected. Also: gzip input, and Medication
resources (exported on their own, cited by medicationReference) reaching the orders."""

from __future__ import annotations

import csv
import gzip
import json
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest
from flask.testing import FlaskClient

from cds_service import cli
from cds_service.population.cli import EXIT_REJECTED
from tests.rules import fhir_builders as fb

from .endpoint import endpoint_cards

AS_OF = date(2025, 1, 1)
RXNORM_ALENDRONATE_10MG = "904419"  # in fhir_mappings/data/medications.csv (Synthea fixtures)


def _patients() -> dict[str, list[dict[str, Any]]]:
    out = {}
    for pid in ("on-alendronate", "untreated"):
        out[pid] = [
            fb.patient(pid, date(1950, 3, 1)),
            fb.t_score(pid, "lumbar spine", -2.8, date(2024, 6, 10)),
        ]
    order = fb.medication_request("on-alendronate", "x", "x", date(2024, 7, 1))
    del order["medicationCodeableConcept"]
    order["medicationReference"] = {"reference": "Medication/aln"}  # no display: only the join
    out["on-alendronate"].append(order)
    return out


MEDICATION = {
    "resourceType": "Medication",
    "id": "aln",
    "code": {"coding": [{"system": fb.RXNORM, "code": RXNORM_ALENDRONATE_10MG}]},
}


def _lines(*resources: Any) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in resources)


@pytest.fixture
def export(tmp_path: Path) -> Path:
    folder = tmp_path / "export"
    folder.mkdir()
    patients = _patients()
    by_type: dict[str, list[dict[str, Any]]] = {}
    for resources in patients.values():
        for resource in resources:
            by_type.setdefault(resource["resourceType"], []).append(resource)
    (folder / "Patient.ndjson").write_bytes(
        _lines(*by_type["Patient"])
        + b"\n"  # a blank line is no record
        + b"[1, 2]\n"  # JSON, but not a resource
        + _lines({"resourceType": "Patient", "gender": "female"})  # no id
    )
    orphan = fb.t_score("ghost", "hip", -3.0, date(2024, 1, 1))  # no Patient/ghost exported
    unowned = fb.t_score("x", "hip", -3.0, date(2024, 1, 1))
    del unowned["subject"]
    (folder / "Observation.000.ndjson.gz").write_bytes(
        gzip.compress(
            _lines(*by_type["Observation"], orphan)
            + b'{"resourceType": "Observation", "id": \n'  # cut short
            + _lines(unowned)
        )
    )
    (folder / "MedicationRequest.ndjson").write_bytes(_lines(*by_type["MedicationRequest"]))
    (folder / "Medication.ndjson").write_bytes(_lines(MEDICATION))
    (folder / "Practitioner.ndjson").write_bytes(
        _lines({"resourceType": "Practitioner", "id": "dr"})
    )
    return folder


def test_rejects_are_counted_with_examples_and_the_exit_status_says_so(
    spark: Any,
    export: Path,
    tmp_path: Path,
    client: FlaskClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "out"
    status = cli.main(["population", str(export), "--as-of", AS_OF.isoformat(), "--out", str(out)])
    assert status == EXIT_REJECTED

    with (out / "rejects" / "counts.csv").open(encoding="utf-8") as source:
        counts = {row["kind"]: int(row["count"]) for row in csv.DictReader(source)}
    assert counts == {
        "malformed-line": 1,
        "not-a-resource": 1,
        "resource-without-patient": 2,  # the Patient without an id, the Observation without subject
        "no-patient-resource": 1,  # Patient/ghost
    }
    examples = [json.loads(line) for line in (out / "rejects" / "examples.ndjson").open()]
    by_kind = {e["kind"]: e for e in examples}
    assert by_kind["malformed-line"]["file"] == "Observation.000.ndjson.gz"
    assert by_kind["malformed-line"]["line"].startswith('{"resourceType": "Observation"')
    assert by_kind["no-patient-resource"]["patient_id"] == "ghost"
    page = (out / "summary.html").read_text("utf-8")
    assert "rejected: malformed-line" in page and "not read by the rules: Practitioner" in page

    # everyone readable was evaluated, exactly as patient-view evaluates them
    with (out / "care_gaps.csv").open(encoding="utf-8") as source:
        rows = list(csv.DictReader(source))
    got = {pid: {r["rule"] for r in rows if r["patient_id"] == pid} for pid in _patients()}
    for pid, resources in _patients().items():
        entries = [{"resource": r} for r in resources]
        cards = endpoint_cards(client, monkeypatch, AS_OF, pid, entries, included=[MEDICATION])
        assert got[pid] == {rule for rule, _, _ in cards}, pid
    # the Medication exported on its own reached the order citing it: treated, so no R4
    assert "R4" in got["untreated"] and "R4" not in got["on-alendronate"]


def test_a_missing_or_empty_directory_is_a_usage_error(tmp_path: Path) -> None:
    args = ["--as-of", "2025-01-01", "--out", str(tmp_path / "out")]
    assert cli.main(["population", str(tmp_path / "nowhere"), *args]) == 2
    (tmp_path / "empty").mkdir()
    assert cli.main(["population", str(tmp_path / "empty"), *args]) == 2
    assert not (tmp_path / "out").exists()
