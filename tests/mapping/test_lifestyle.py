"""Smoking (most recent only), alcohol drinks per day (weekly converted), AUDIT-C."""

from __future__ import annotations

from datetime import date

import pytest

from fhir_mappings.facts import SmokingStatus

from .builders import SNOMED, concept, facts_of, observation


def smoking(oid: str, answer: str, when: str, code: str = "72166-2") -> dict:
    return observation(oid, code, when=when, valueCodeableConcept=concept(SNOMED, answer))


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        ("449868002", SmokingStatus.CURRENT),
        ("428041000124106", SmokingStatus.CURRENT),
        ("428071000124103", SmokingStatus.CURRENT),
        ("428061000124105", SmokingStatus.CURRENT),
        ("77176002", SmokingStatus.CURRENT),  # current status unknown → current
        ("8517006", SmokingStatus.FORMER),
        ("266919005", SmokingStatus.NEVER),
        ("266927001", SmokingStatus.UNKNOWN),
        ("999999", SmokingStatus.UNKNOWN),
    ],
)
def test_answers(answer: str, status: SmokingStatus) -> None:
    assert facts_of(smoking("s1", answer, "2024-01-01")).smoking.status is status


def test_only_the_most_recent_counts() -> None:
    facts = facts_of(
        smoking("s1", "449868002", "2020-01-01"),
        smoking("s2", "8517006", "2024-01-01", code="11367-0"),
        smoking("s3", "449868002", "2022-01-01"),
    )
    assert facts.smoking.status is SmokingStatus.FORMER
    assert facts.smoking.source.reference == "Observation/s2"
    assert facts.smoking.source.date == date(2024, 1, 1)


def test_no_smoking_observation() -> None:
    assert facts_of().smoking is None


@pytest.mark.parametrize(
    ("value", "unit", "per_day"),
    [(3, "{drinks}/d", 3.0), (2.5, None, 2.5), (14, "{drinks}/wk", 2.0), (21, "/wk", 3.0)],
)
def test_alcohol_per_day(value: float, unit: str | None, per_day: float) -> None:
    facts = facts_of(observation("a1", "74013-4", value, unit))
    assert facts.alcohol.drinks_per_day == pytest.approx(per_day)


def test_alcohol_most_recent_and_bad_unit() -> None:
    facts = facts_of(
        observation("a1", "74013-4", 1, "{drinks}/d", when="2020-01-01"),
        observation("a2", "74013-4", 4, "{drinks}/d", when="2023-01-01"),
        observation("a3", "74013-4", 9, "mL", when="2024-01-01"),
    )
    assert facts.alcohol.drinks_per_day == 4
    assert facts.alcohol.source.reference == "Observation/a2"


def test_audit_c() -> None:
    facts = facts_of(
        observation("q1", "75626-2", valueInteger=5), observation("q2", "75626-2", valueInteger=40)
    )
    assert facts.audit_c.score == 5
