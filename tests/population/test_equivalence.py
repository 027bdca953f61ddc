"""The population run gives every fixture patient exactly the cards patient-view gives.

Each Synthea and eCQM fixture patient is sent to the patient-view endpoint (Flask test client)
with a prefetch built from that patient's own resources, one Bundle per prefetch template of
the service; the same patients, converted to Bulk Data NDJSON, go through the Spark job. Both
sides must agree on (rule, indicator, summary) for every patient, on each evaluation date.
The dates are those of the corpus tests (tests/rules/test_corpus_outcomes.py): the record end
of the Synthea DXA patient, when most Synthea patients are alive and on treatment, and the
eCQM measurement period's last day.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from cds_service.population.cli import run_population_job
from cds_service.population.inputs import list_export
from cds_service.population.records import patient_reference
from cds_service.settings import Settings

from .conftest import ECQM, SYNTHEA
from .endpoint import Cards, endpoint_cards

AS_OF_DATES = [date(2020, 8, 20), date(2025, 12, 31)]


def _synthea_patients() -> dict[str, list[dict[str, Any]]]:
    """Patient id → the bundle's entries (fullUrl kept, as an EHR's Bundle would have it)."""
    out = {}
    for path in sorted(SYNTHEA.glob("*.json")):
        entries = json.loads(path.read_text("utf-8"))["entry"]
        (patient,) = [e for e in entries if e["resource"]["resourceType"] == "Patient"]
        out[patient["resource"]["id"]] = entries
    return out


def _ecqm_patients() -> dict[str, list[dict[str, Any]]]:
    out = {}
    for folder in sorted(p for p in ECQM.glob("*/*") if p.is_dir()):
        resources = [json.loads(f.read_text("utf-8")) for f in sorted(folder.glob("*.json"))]
        (pid,) = [r["id"] for r in resources if r["resourceType"] == "Patient"]
        out[pid] = [{"resource": r} for r in resources]
    return out


PATIENTS = {**_synthea_patients(), **_ecqm_patients()}
GHOSTS = {patient_reference(e["resource"]) for entries in PATIENTS.values() for e in entries} - {
    *PATIENTS,
    None,
}


def _population_cards(csv_path: Path) -> dict[str, Cards]:
    out: dict[str, Cards] = defaultdict(set)
    with csv_path.open(encoding="utf-8", newline="") as source:
        reader = csv.reader(source)
        header = next(reader)
        assert header[:4] == ["patient_id", "rule", "indicator", "summary"]
        for row in reader:
            out[row[0]].add((row[1], row[2], row[3]))
    return out


@pytest.mark.parametrize("as_of", AS_OF_DATES, ids=str)
def test_population_equals_patient_view_for_every_fixture_patient(
    spark: Any,
    fixture_export: Path,
    tmp_path: Path,
    client: FlaskClient,
    monkeypatch: pytest.MonkeyPatch,
    as_of: date,
) -> None:
    out = tmp_path / "out"
    report = run_population_job(spark, list_export(fixture_export), as_of, out, Settings())
    expected = {
        pid: endpoint_cards(client, monkeypatch, as_of, pid, entries)
        for pid, entries in PATIENTS.items()
    }
    got = _population_cards(out / "care_gaps.csv")

    assert report.patients == len(PATIENTS)
    for pid in PATIENTS:
        assert got.get(pid, set()) == expected[pid], pid
    assert set(got) <= set(PATIENTS)
    assert report.cards == sum(len(c) for c in expected.values())
    assert report.cards > 0  # the comparison is not between two empty sets

    # An eCQM test case carries resources whose subject is a patient it does not include:
    # the endpoint drops them as another patient's data; the population run reports them.
    assert dict(report.rejects) == {"no-patient-resource": len(GHOSTS)}
    assert {e["patient_id"] for e in report.examples} == GHOSTS

    parquet = spark.read.parquet(str(out / "care_gaps.parquet"))
    assert parquet.count() == report.cards
    assert (out / "summary.html").read_text("utf-8").startswith("<!doctype html>")
