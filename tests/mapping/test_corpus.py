"""Every patient of the real-world fixtures maps without error, with known facts read.

The fixtures are copies in ``tests/fixtures`` (sources and licences in its README.md).
"""

from __future__ import annotations

import json
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from fhir_mappings import build_facts, group_studies
from fhir_mappings.facts import DrugClass, DxaSite, FraxKind, MatchedBy, PatientFacts, ScoreKind

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"  # copies; see its README.md
SYNTHEA_AS_OF = date(2021, 1, 1)  # the Synthea records end between 2012 and 2020
ECQM_AS_OF = date(2026, 12, 31)  # measurement periods 2025/2026


def _synthea_files() -> list[Path]:
    return sorted((FIXTURES / "synthea").glob("*.json"))


def _ecqm_folders(measure: str) -> list[Path]:
    base = FIXTURES / "ecqm" / measure
    return sorted(p for p in base.iterdir() if p.is_dir()) if base.is_dir() else []


@cache
def _synthea(path: Path) -> tuple[dict[str, Any], str]:
    data = json.loads(path.read_text("utf-8"))
    (pid,) = [
        e["resource"]["id"] for e in data["entry"] if e["resource"]["resourceType"] == "Patient"
    ]
    return data, pid


def _folder_resources(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(f.read_text("utf-8")) for f in sorted(folder.glob("*.json"))]


def _assert_clean(facts: PatientFacts) -> None:
    assert facts.birth_date is not None
    assert not any("could not be read" in note.message for note in facts.notes)


@pytest.mark.parametrize("path", _synthea_files(), ids=lambda p: p.stem.split("_")[0])
def test_synthea_patient_maps(path: Path) -> None:
    data, pid = _synthea(path)
    facts = build_facts({"everything": data}, patient_id=pid, as_of=SYNTHEA_AS_OF)
    _assert_clean(facts)
    resources = [e["resource"] for e in data["entry"]]

    # Synthea codes every T-score 38265-5: read, as the code says, as a forearm T-score
    t_scores = [
        r for r in resources
        if r["resourceType"] == "Observation" and r["code"]["coding"][0]["code"] == "38265-5"
        and r["effectiveDateTime"][:10] <= SYNTHEA_AS_OF.isoformat()
    ]  # fmt: skip
    assert len(facts.bone_density_scores) == len(t_scores)
    for score in facts.bone_density_scores:
        assert (score.kind, score.site) == (ScoreKind.T, DxaSite.FOREARM)
    if t_scores:
        assert facts.dxa_events
        assert {s.value for s in facts.bone_density_scores} == {
            r["valueQuantity"]["value"] for r in t_scores
        }

    alendronate = [
        r for r in resources
        if r["resourceType"] == "MedicationRequest"
        and r["medicationCodeableConcept"]["coding"][0]["code"] == "904419"
    ]  # fmt: skip
    episodes = [t for t in facts.therapies if t.ingredient == "alendronate"]
    if alendronate:
        (episode,) = episodes
        assert episode.drug_class is DrugClass.ORAL_BISPHOSPHONATE
        assert episode.matched_by is MatchedBy.CODE
    else:
        assert episodes == []


def test_synthea_negative_controls_and_serial_scans() -> None:
    by_name = {p.stem.split("_")[0] + "_" + p.stem.split("_")[1]: p for p in _synthea_files()}
    for name in ("Buster_Hoeger", "Clemente_Kreiger"):
        data, pid = _synthea(by_name[name])
        facts = build_facts({"x": data}, patient_id=pid, as_of=SYNTHEA_AS_OF)
        assert facts.bone_density_scores == [] and facts.therapies == []
    for name in ("Gustavo_Olson", "Hallie_Hoeger"):
        data, pid = _synthea(by_name[name])
        facts = build_facts({"x": data}, patient_id=pid, as_of=SYNTHEA_AS_OF)
        assert len(group_studies(facts.bone_density_scores)) >= 2


def test_synthea_as_pages_and_single_resources_gives_the_same_facts() -> None:
    data, pid = _synthea(_synthea_files()[0])
    entries = data["entry"]
    pages = [
        {"resourceType": "Bundle", "type": "searchset", "entry": entries[i : i + 50]}
        for i in range(0, len(entries), 50)
    ]
    whole = build_facts({"x": data}, patient_id=pid, as_of=SYNTHEA_AS_OF)
    paged = build_facts({"x": pages}, patient_id=pid, as_of=SYNTHEA_AS_OF)
    single = build_facts(
        {str(i): e["resource"] for i, e in enumerate(entries)}, patient_id=pid, as_of=SYNTHEA_AS_OF
    )
    assert whole == paged
    # without fullUrls, urn:uuid subject references cannot be resolved but are still accepted
    assert whole.bone_density_scores == single.bone_density_scores


@pytest.mark.parametrize("folder", _ecqm_folders("dxa-women-under-65"), ids=lambda p: p.name[:8])
def test_ecqm_dxa_women_patient_maps(folder: Path) -> None:
    facts = build_facts(
        {"all": _folder_resources(folder)}, patient_id=folder.name, as_of=ECQM_AS_OF
    )
    _assert_clean(facts)


@pytest.mark.parametrize(
    "folder", _ecqm_folders("prostate-adt-bone-density"), ids=lambda p: p.name[:8]
)
def test_ecqm_prostate_patient_maps(folder: Path) -> None:
    facts = build_facts(
        {"all": _folder_resources(folder)}, patient_id=folder.name, as_of=ECQM_AS_OF
    )
    _assert_clean(facts)
    # CMS645 DXA Observations carry no value: a DXA done, never a score
    assert facts.bone_density_scores == []


def _ecqm(measure: str, pid: str) -> PatientFacts:
    folder = FIXTURES / "ecqm" / measure / pid
    return build_facts({"all": _folder_resources(folder)}, patient_id=pid, as_of=ECQM_AS_OF)


def test_ecqm_frax_exactly_8_4_percent() -> None:
    facts = _ecqm("dxa-women-under-65", "76b79115-6002-4437-97d4-e6b584d5c947")
    assert [(r.kind, r.percent) for r in facts.frax] == [(FraxKind.MAJOR_OSTEOPOROTIC, 8.4)]
    assert facts.frax[0].source.date == date(2025, 1, 1)


def test_ecqm_drinks_glucocorticoid_and_osteopenia() -> None:
    one_drink = _ecqm("dxa-women-under-65", "5436d957-23e1-4480-bf33-a9c7d27585ca")
    assert one_drink.alcohol is not None and one_drink.alcohol.drinks_per_day == 1
    steroid = _ecqm("dxa-women-under-65", "8d04edbd-85b2-43b4-b62a-aa14a976bf1b")
    assert {t.drug_class for t in steroid.therapies} == {DrugClass.GLUCOCORTICOID}
    osteopenia = _ecqm("dxa-women-under-65", "388c4d35-8c22-4fe3-a9d2-3953e8900de4")
    assert [d.kind.value for d in osteopenia.diagnoses] == ["osteopenia"]


def test_ecqm_prostate_other_patients_observation_ignored() -> None:
    facts = _ecqm("prostate-adt-bone-density", "4d648e0d-3d8c-4089-af65-ddcf3642b735")
    assert any("another patient" in note.message for note in facts.notes)
    assert {t.drug_class for t in facts.therapies} <= {DrugClass.ANDROGEN_DEPRIVATION}
