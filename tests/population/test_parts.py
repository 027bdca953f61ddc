"""The population run's parts that need no Spark: the converter, one patient's evaluation
and its isolation from the others, age bands, and the summary page."""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest

from cds_service import cli
from cds_service.population import job
from cds_service.population.convert import convert_to_ndjson
from cds_service.population.evaluate import age_band, age_on
from cds_service.population.job import JobReport
from cds_service.population.summary_html import render_summary
from cds_service.settings import Settings
from tests.rules import fhir_builders as fb

from .conftest import ECQM, SYNTHEA


def _read(path: Path) -> list[dict[str, Any]]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as source:
        return [orjson.loads(line) for line in source]


def test_converter_makes_synthea_references_relative(tmp_path: Path) -> None:
    (bundle_path,) = SYNTHEA.glob("Gayla_Ferry_*.json")
    bundle = json.loads(bundle_path.read_text("utf-8"))
    counts = convert_to_ndjson([bundle_path], tmp_path, gzip_output=True)

    assert counts == Counter(e["resource"]["resourceType"] for e in bundle["entry"])
    (patient,) = _read(tmp_path / "Patient.ndjson.gz")
    observations = _read(tmp_path / "Observation.ndjson.gz")
    assert observations
    # Synthea links by urn:uuid fullUrl; a Bulk export by Type/id
    assert {o["subject"]["reference"] for o in observations} == {f"Patient/{patient['id']}"}
    every_line = b"".join(orjson.dumps(r) for f in tmp_path.iterdir() for r in _read(f))
    assert b"urn:uuid:" not in every_line  # encounters, claims… point at Type/id too


def test_converter_keeps_an_id_reused_by_test_decks_once_per_patient(tmp_path: Path) -> None:
    """eCQM test cases reuse ids (e.g. one MedicationRequest id in 20 patients' folders)."""
    convert_to_ndjson([ECQM], tmp_path)
    requests = _read(tmp_path / "MedicationRequest.ndjson")
    by_id = Counter(r["id"] for r in requests)
    reused, times = by_id.most_common(1)[0]
    assert times > 1
    owners = [r["subject"]["reference"] for r in requests if r["id"] == reused]
    assert len(owners) == len(set(owners)) == times


def test_converter_names_an_unreadable_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"resourceType": "Bundle", ', "utf-8")
    out = tmp_path / "out"
    assert cli.main(["bundles-to-ndjson", str(broken), "--out", str(out)]) == 2
    assert "broken.json: not readable JSON" in capsys.readouterr().err
    assert cli.main(["bundles-to-ndjson", str(tmp_path / "missing"), "--out", str(out)]) == 2


@pytest.mark.parametrize(
    ("birth", "band"),
    [
        (date(1975, 1, 2), "<50"),  # 49 the day before the birthday
        (date(1975, 1, 1), "50–64"),
        (date(1960, 1, 2), "50–64"),
        (date(1960, 1, 1), "65–74"),
        (date(1940, 1, 1), "85+"),
        (None, "unknown"),
        (date(2030, 1, 1), "unknown"),  # born after the evaluation date
    ],
)
def test_age_bands_at_their_boundaries(birth: date | None, band: str) -> None:
    assert age_band(age_on(birth, date(2025, 1, 1))) == band


class _FailingFor:
    """A patient-view engine that fails for one patient (a defect the data triggered)."""

    def __init__(self, real: Any, failing: str) -> None:
        self.real, self.failing = real, failing

    def evaluate(self, prefetch: Any, *, patient_id: str, as_of: date) -> Any:
        if patient_id == self.failing:
            raise ZeroDivisionError("division by zero")
        return self.real.evaluate(prefetch, patient_id=patient_id, as_of=as_of)


def test_a_patient_whose_evaluation_raises_is_rejected_and_the_others_evaluated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = job._engine(Settings())
    monkeypatch.setattr(job, "_engine", lambda settings: _FailingFor(real, "bad"))

    def lines(pid: str) -> list[bytes]:
        return [
            orjson.dumps(fb.patient(pid, date(1950, 1, 1))),
            orjson.dumps(fb.t_score(pid, "hip", -2.8, date(2024, 6, 1))),
        ]

    groups = [
        ("patient", None, "bad", lines("bad"), 2),
        ("patient", None, "good", lines("good"), 2),
        ("not-read", "Claim", None, [], 7),
    ]
    rows = list(job.evaluate_partition(groups, date(2025, 1, 1), Settings(), None))
    tags = Counter(tag for tag, _ in rows)
    assert (
        "reject",
        ("evaluation-failed", "bad", "ZeroDivisionError: division by zero", 2),
    ) in rows
    assert ("patient", ("good", "female", "75–84", tags["card"], 2)) in rows
    assert tags["card"] >= 1 and all(v[0] == "good" for t, v in rows if t == "card")
    assert ("count", ("not-read", "Claim", 7)) in rows
    assert all(len(job.to_row(row)) == len(job.ROW_COLUMNS) for row in rows)


def test_the_summary_page_is_self_contained_and_counts_per_rule_band_and_sex() -> None:
    report = JobReport(patients=3, cards=2, lines=40)
    report.by_rule = [{"rule": "R4", "indicator": "warning", "count": 2}]
    report.by_band = [
        {"rule": "R4", "age_band": "65–74", "sex": "female", "count": 1},
        {"rule": "R4", "age_band": "75–84", "sex": "male", "count": 1},
    ]
    report.patients_by_band = [
        {"age_band": "65–74", "sex": "female", "count": 2},
        {"age_band": "75–84", "sex": "male", "count": 1},
    ]
    report.rejects["malformed-line"] = 1
    report.not_read["Claim"] = 5
    page = render_summary(report, as_of=date(2025, 1, 1), source="export <x>")

    assert page.startswith("<!doctype html>") and "<svg" in page
    # nothing to fetch: no script, no external resource, no link
    assert not re.search(r"<script|<link|<img|src=|href=|url\(|@import", page)
    assert "export &lt;x&gt;" in page  # text from outside is escaped
    assert "<td>R4</td>" in page and "65–74" in page and "75–84" in page
    assert "rejected: malformed-line" in page and "not read by the rules: Claim" in page


@pytest.mark.parametrize(
    ("master", "loopback"),
    [
        ("local[*]", True),
        ("local[2]", True),
        ("spark://127.0.0.1:7077", True),
        ("spark://localhost:7077", True),
        ("spark://10.0.0.5:7077", False),  # executors elsewhere must reach the driver
        ("yarn", False),
        ("k8s://https://10.0.0.1:6443", False),
    ],
)
def test_the_driver_binds_to_loopback_only_for_a_loopback_master(
    master: str, loopback: bool
) -> None:
    assert job.is_loopback(master) is loopback
