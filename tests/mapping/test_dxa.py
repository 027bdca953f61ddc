"""DXA T-/Z-scores by site and laterality, value shapes and units, panels, DXA events."""

from __future__ import annotations

from datetime import date

import pytest

from fhir_mappings import group_studies
from fhir_mappings.facts import DxaSite, Laterality, ScoreKind

from .builders import CPT, LOINC, SNOMED, concept, facts_of, messages, observation


@pytest.mark.parametrize("unit", ["{T-score}", "1", "T-Score", None, "SD"])
def test_units_accepted(unit: str | None) -> None:
    facts = facts_of(observation("o1", "38267-1", -1.8, unit))
    assert [s.value for s in facts.bone_density_scores] == [-1.8]


def test_unit_text_and_ucum_code_differ() -> None:
    obs = observation("o1", "80946-7", -1.62)
    ucum = "http://unitsofmeasure.org"
    obs["valueQuantity"] = {"value": -1.62, "unit": "T-Score", "system": ucum, "code": "1"}
    assert facts_of(obs).bone_density_scores[0].value == -1.62


def test_value_string_and_no_rounding() -> None:
    obs = observation("o1", "38263-0", valueString="-2.5")
    other = observation("o2", "38264-8", valueString=" −2.4999999 ")
    facts = facts_of(obs, other)
    assert sorted(s.value for s in facts.bone_density_scores) == [-2.5, -2.4999999]


def test_non_score_units_and_values_rejected() -> None:
    bmd_as_t = observation("o1", "38267-1", 0.887, "g/cm2")
    absurd = observation("o2", "38264-8", -45.0, "1")
    text = observation("o3", "38263-0", valueString="see report")
    facts = facts_of(bmd_as_t, absurd, text)
    assert facts.bone_density_scores == []
    log = messages(facts)
    assert "not a score" in log and "not a plausible score" in log and "not a number" in log


@pytest.mark.parametrize(
    ("code", "kind", "site", "side"),
    [
        ("38267-1", "T", "lumbar spine", "unspecified"),
        ("104938-6", "T", "lumbar spine", "unspecified"),
        ("38264-8", "T", "total hip", "unspecified"),
        ("80945-9", "T", "total hip", "right"),
        ("80946-7", "T", "total hip", "left"),
        ("38263-0", "T", "femoral neck", "unspecified"),
        ("80947-5", "T", "femoral neck", "right"),
        ("80948-3", "T", "femoral neck", "left"),
        ("38265-5", "T", "forearm", "unspecified"),
        ("80944-2", "T", "forearm", "left"),
        ("85394-5", "Z", "lumbar spine", "unspecified"),
        ("80938-4", "Z", "total hip", "left"),
        ("80940-0", "Z", "femoral neck", "left"),
        ("80932-7", "Z", "forearm", "unspecified"),
    ],
)
def test_site_kind_laterality_by_code(code: str, kind: str, site: str, side: str) -> None:
    (score,) = facts_of(observation("o1", code, -1.3, "1")).bone_density_scores
    assert (score.kind, score.site, score.laterality) == (
        ScoreKind(kind),
        DxaSite(site),
        Laterality(side),
    )
    assert score.source.reference == "Observation/o1"
    assert score.source.date == date(2024, 3, 2)


def test_laterality_from_body_site() -> None:
    post_coordinated = observation(
        "o1", "38263-0", -1.1, "1", bodySite=concept(SNOMED, "71341001:272741003=7771000")
    )
    text = observation("o2", "38264-8", -1.2, "1", bodySite={"text": "Right hip"})
    facts = facts_of(post_coordinated, text)
    sides = {s.site: s.laterality for s in facts.bone_density_scores}
    assert sides == {DxaSite.FEMORAL_NECK: Laterality.LEFT, DxaSite.TOTAL_HIP: Laterality.RIGHT}


def test_calcaneus_and_whole_body_never_read() -> None:
    facts = facts_of(
        observation("o1", "38266-3", -3.1, "1"),
        observation("o2", "80949-1", -3.1, "1"),
        observation("o3", "46383-6", 0.9, "g/cm2"),
    )
    assert facts.bone_density_scores == []
    assert facts.dxa_events == []


def test_components_of_a_dxa_panel() -> None:
    panel = observation("panel", "38268-9")
    panel["component"] = [
        {"code": concept(LOINC, "38267-1"), "valueQuantity": {"value": -2.1, "unit": "T-Score"}},
        {"code": concept(LOINC, "38263-0"), "valueString": "-2.6"},
        {"code": concept(LOINC, "38264-8"), "valueQuantity": {"value": -1.8}},
        {"code": concept(LOINC, "38266-3"), "valueQuantity": {"value": -4.0}},
        "garbage",
        {"code": "not a concept"},
    ]
    facts = facts_of(panel)
    values = {s.site: s.value for s in facts.bone_density_scores}
    assert values == {
        DxaSite.LUMBAR_SPINE: -2.1,
        DxaSite.FEMORAL_NECK: -2.6,
        DxaSite.TOTAL_HIP: -1.8,
    }
    assert all(s.source.reference == "Observation/panel" for s in facts.bone_density_scores)
    assert [e.date for e in facts.dxa_events] == [date(2024, 3, 2)]


def test_has_member_panel_lends_its_date_and_resolves_contained_members() -> None:
    member = observation("m1", "80946-7", -1.62, "1", when=None)
    contained = observation("c1", "80948-3", -1.48, "1", when=None)
    contained.pop("subject")
    panel = observation(
        "panel",
        "83311-1",
        when="2023-11-05",
        hasMember=[{"reference": "Observation/m1"}, {"reference": "#c1"}, {"reference": 7}, "x"],
        contained=[contained],
    )
    facts = facts_of(panel, member)
    got = {(s.site, s.laterality): (s.value, s.source.date, s.source.reference)
           for s in facts.bone_density_scores}  # fmt: skip
    assert got == {
        (DxaSite.TOTAL_HIP, Laterality.LEFT): (-1.62, date(2023, 11, 5), "Observation/m1"),
        (DxaSite.FEMORAL_NECK, Laterality.LEFT): (-1.48, date(2023, 11, 5), "Observation/panel#c1"),
    }


def test_diagnostic_report_results_and_event() -> None:
    member = observation("m1", "38267-1", -2.0, "1", when=None)
    report = {
        "resourceType": "DiagnosticReport",
        "id": "r1",
        "status": "final",
        "code": concept(LOINC, "38269-7"),
        "effectiveDateTime": "2022-06-01",
        "result": [{"reference": "Observation/m1"}],
    }
    facts = facts_of(report, member)
    assert facts.bone_density_scores[0].source.date == date(2022, 6, 1)
    assert {e.source.reference for e in facts.dxa_events} == {
        "DiagnosticReport/r1",
        "Observation/m1",
    }


def test_valueless_score_is_an_event_with_a_note() -> None:
    facts = facts_of(observation("o1", "38265-5"))
    assert facts.bone_density_scores == []
    assert [e.date for e in facts.dxa_events] == [date(2024, 3, 2)]
    assert "result unavailable" in messages(facts)


def test_dxa_events_from_procedures_and_service_requests() -> None:
    def proc(pid: str, system: str, code: str, **extra: object) -> dict:
        return {"resourceType": "Procedure", "id": pid, "status": "completed",
                "code": concept(system, code), **extra}  # fmt: skip

    def order(sid: str, status: str, when: str) -> dict:
        return {"resourceType": "ServiceRequest", "id": sid, "status": status, "intent": "order",
                "code": concept(CPT, "77080"), "occurrenceDateTime": when}  # fmt: skip

    facts = facts_of(
        proc("p1", CPT, "77080", performedDateTime="2019-05-01"),
        proc("p2", SNOMED, "312681000", performedPeriod={"start": "2020-05-01T10:00:00Z"}),
        proc("p3", CPT, "77081", performedDateTime="2021-05-01", status="not-done"),
        proc("p4", CPT, "99213", performedDateTime="2022-05-01"),
        proc("p5", CPT, "77086", performedDateTime="bad"),
        order("s1", "completed", "2023-01-10"),
        order("s2", "active", "2024-01-10"),
        order("s3", "revoked", "2024-02-10"),
    )
    assert [(e.date, e.source.reference) for e in facts.dxa_events] == [
        (date(2019, 5, 1), "Procedure/p1"),
        (date(2020, 5, 1), "Procedure/p2"),
        (date(2023, 1, 10), "ServiceRequest/s1"),
    ]
    assert "unreadable date" in messages(facts)


def test_bmd_observation_dates_a_dxa_without_a_score() -> None:
    facts = facts_of(observation("o1", "24701-5", 0.887, "g/cm2"))
    assert facts.bone_density_scores == []
    assert [e.date for e in facts.dxa_events] == [date(2024, 3, 2)]


def test_group_studies_window() -> None:
    facts = facts_of(
        observation("a", "38267-1", -1.5, "1", when="2024-03-02"),
        observation("b", "38264-8", -1.9, "1", when="2024-02-10"),
        observation("c", "38263-0", -2.6, "1", when="2024-01-20"),
        observation("d", "38267-1", -2.0, "1", when="2021-06-01"),
    )
    studies = group_studies(facts.bone_density_scores)
    assert [(s.date, sorted(x.source.reference for x in s.scores)) for s in studies] == [
        (date(2024, 3, 2), ["Observation/a", "Observation/b"]),
        (date(2024, 1, 20), ["Observation/c"]),
        (date(2021, 6, 1), ["Observation/d"]),
    ]
    assert len(group_studies(facts.bone_density_scores, window_days=60)) == 2
    assert group_studies([]) == []


def test_quantity_value_sent_as_a_string() -> None:
    obs = observation("o1", "38267-1")
    obs["valueQuantity"] = {"value": "-2.3", "unit": "T-Score"}
    bad = observation("o2", "38264-8")
    bad["valueQuantity"] = {"value": "<-2", "unit": "T-Score"}
    assert [s.value for s in facts_of(obs, bad).bone_density_scores] == [-2.3]
