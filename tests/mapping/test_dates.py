"""FHIR date parsing: partial dates, zones, and bad dates that skip a fact with a note."""

from __future__ import annotations

from datetime import date

import pytest

from fhir_mappings.dates import parse_date

from .builders import facts_of, messages, observation


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2019", date(2019, 1, 1)),
        ("2019-03", date(2019, 3, 1)),
        ("2019-03-04", date(2019, 3, 4)),
        ("2019-03-04T23:30:00+02:00", date(2019, 3, 4)),
        ("2019-03-04T23:30:00Z", date(2019, 3, 4)),
        ("2019-03-04T23:30:00.123-05:00", date(2019, 3, 4)),
        ("2019-03-04T23:30", date(2019, 3, 4)),
    ],
)
def test_parses(raw: str, expected: date) -> None:
    assert parse_date(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["", "19", "2019-13", "2019-02-30", "0000-01-01", "03/04/2019", "2019-03-04Tnoon", 2019, None,
     ["2019"], {"value": "2019"}, "2019-03-04 " * 10],
)  # fmt: skip
def test_rejects(raw: object) -> None:
    assert parse_date(raw) is None


def test_year_only_and_period_dates_in_facts() -> None:
    year_only = observation("o1", "38267-1", -1.5, "1", when="2023")
    period = observation("o2", "38264-8", -1.7, "1", when=None)
    period["effectivePeriod"] = {"start": "2024-01-02", "end": "2024-01-03T10:00:00+01:00"}
    facts = facts_of(year_only, period)
    assert [s.source.date for s in facts.bone_density_scores] == [
        date(2023, 1, 1),
        date(2024, 1, 3),
    ]


def test_bad_date_skips_the_fact_with_a_note() -> None:
    bad = observation("o1", "38267-1", -2.7, "1", when="2024-31-12")
    facts = facts_of(bad)
    assert facts.bone_density_scores == []
    assert "unreadable date" in messages(facts)
    assert any(n.source and n.source.reference == "Observation/o1" for n in facts.notes)


def test_issued_is_the_last_resort_date() -> None:
    obs = observation("o1", "38267-1", -1.5, "1", when=None, issued="2024-02-02T10:00:00Z")
    assert facts_of(obs).bone_density_scores[0].source.date == date(2024, 2, 2)


def test_evaluation_datetime_is_read_as_its_day() -> None:
    from datetime import datetime

    from fhir_mappings import build_facts

    from .builders import PID, bundle, patient

    facts = build_facts(
        {"x": bundle(patient(), observation("o1", "38267-1", -1.5, "1", when="2024-03-02"))},
        patient_id=PID,
        as_of=datetime(2024, 3, 2, 8, 0),
    )
    assert len(facts.bone_density_scores) == 1
