"""The cards the service returns for real patient data meet every Service SHALL of the CDS
Hooks 2.0 card model (checked by ``card_rules``), and each check is shown to catch a bad card.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.service.card_rules import violations
from tests.service.prefetch_builder import hook_request_for, load_bundle
from tests.support.demo_fixtures import demo_bundles

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CARD_REQUIREMENTS = [
    3, 74, 75, 80, 83, 85, 87, 88, 89, 90, 92, 93, 95, 96, 98, 100, 103, 105, 107, 111, 115,
    117, 119, 121, 124, 125, 127, 128, 130, 131, 132, 133, 134, 135, 136, 138, 139, 141, 142,
    144, 147, 214, 216, 217, 218, 219, 220,
]  # fmt: skip


def _bundles() -> dict[str, dict[str, Any]]:
    bundles = {p.stem: load_bundle(p) for p in sorted((FIXTURES / "synthea").glob("*.json"))}
    today = datetime.now(UTC).date()
    bundles.update(demo_bundles(today))
    return bundles


@pytest.fixture(scope="module")
def engine_responses(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    from cds_service.app import create_app
    from tests.conftest import build_settings

    app: Flask = create_app(build_settings(tmp_path_factory.mktemp("cards")))
    client = app.test_client()
    answers: dict[str, dict[str, Any]] = {}
    for name, bundle in _bundles().items():
        response = client.post(
            "/cds-services/osteopenia-management", json=hook_request_for(bundle, f"hi-{name}")
        )
        assert response.status_code == 200, (name, response.get_json())
        answers[name] = response.get_json()
    return answers


def test_fixture_cards_exercise_the_whole_card_model(
    engine_responses: dict[str, dict[str, Any]],
) -> None:
    """Without suggestions, override reasons, links and topics the checks would be vacuous."""
    cards = [card for body in engine_responses.values() for card in body["cards"]]
    assert len(cards) >= 10
    assert any(card.get("suggestions") for card in cards)
    assert any(card.get("overrideReasons") for card in cards)
    assert any(card.get("links") for card in cards)
    assert all(card["source"].get("topic") for card in cards)
    assert {card["indicator"] for card in cards} >= {"info", "warning"}


@pytest.mark.parametrize("requirement", CARD_REQUIREMENTS, ids=lambda r: f"req-{r:03d}")
def test_req_card_model_holds_for_engine_cards(
    engine_responses: dict[str, dict[str, Any]], requirement: int
) -> None:
    """REQ-3, 74, 75, 80–147, 214, 216–220: each card-model SHALL, on the engine's cards for
    every fixture patient (Synthea and the demo patients)."""
    found = [
        (name, message)
        for name, body in engine_responses.items()
        for rid, message in violations(body)
        if rid == requirement
    ]
    assert not found, found[:5]


def _card() -> dict[str, Any]:
    return {
        "uuid": "1b0c6f0e-6a47-4d4b-8d43-0f4f5bb1b2a1",
        "summary": "Osteopenia: start calcium and vitamin D",
        "indicator": "info",
        "source": {
            "label": "BHOF 2022",
            "url": "https://www.bonehealthandosteoporosis.org/",
            "topic": {"system": "urn:osteopenia-cds:rule", "code": "R2", "display": "x"},
        },
        "selectionBehavior": "any",
        "suggestions": [
            {
                "label": "Start vitamin D",
                "uuid": "6c1d2a3b-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
                "isRecommended": True,
                "actions": [
                    {
                        "type": "create",
                        "description": "Draft order",
                        "resource": {
                            "resourceType": "ServiceRequest",
                            "status": "draft",
                            "intent": "proposal",
                            "subject": {"reference": "Patient/p"},
                        },
                    }
                ],
            }
        ],
        "overrideReasons": [{"system": "urn:x", "code": "declined", "display": "Declined"}],
        "links": [{"label": "FRAX", "url": "https://frax.shef.ac.uk/", "type": "absolute"}],
        "extension": {"urn:osteopenia-cds:rule": "R2"},
    }


def _bad(mutate: Any) -> dict[str, Any]:
    card = _card()
    mutate(card)
    return {"cards": [card]}


def _set(path: str, value: Any) -> Any:
    def mutate(card: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = card
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        if value is ...:
            del node[last]
        else:
            node[last] = value

    return mutate


BAD = {
    3: _set("detail", ""),
    74: lambda card: None,  # replaced below: a response without cards
    75: None,
    80: _set("uuid", "not-a-uuid"),
    83: _set("summary", "x" * 140),
    85: _set("detail", 5),
    87: _set("indicator", ...),
    88: _set("indicator", "urgent"),
    89: _set("indicator", "hard-stop"),
    90: _set("source", "BHOF"),
    92: _set("suggestions", {"label": "x"}),
    93: _set("selectionBehavior", ...),
    95: _set("selectionBehavior", "exactly-one"),
    96: _set("selectionBehavior", 1),
    98: _set("overrideReasons", {"code": "x"}),
    100: _set("overrideReasons.0.display", ...),
    103: _set("links", {"label": "x"}),
    105: _set("source.label", ...),
    107: _set("source.url", "/relative"),
    111: _set("source.icon", "icon.png"),
    115: _set("source.topic", "R2"),
    117: _set("suggestions.0.label", ...),
    119: _set("suggestions.0.uuid", 7),
    121: _set("suggestions.0.isRecommended", "yes"),
    124: _set("suggestions.0.actions", {"type": "create"}),
    125: _set("suggestions.0.actions", ...),
    127: _set("suggestions.0.actions.0.type", "insert"),
    128: _set("suggestions.0.actions.0.description", ...),
    130: _set("suggestions.0.actions.0.resource", {"resourceType": "ServiceRequest", "x": 1}),
    131: _set("suggestions.0.actions.0.resource", ...),
    132: _set("suggestions.0.actions.0.type", "update"),
    133: lambda card: card["suggestions"][0]["actions"][0].update(
        type="delete", resourceId="ServiceRequest/1"
    ),
    134: lambda card: (
        card["suggestions"][0]["actions"][0].update(type="delete")
        or card["suggestions"][0]["actions"][0].pop("resource")
    ),
    135: lambda card: card["suggestions"][0]["actions"][0].update(resourceId=5),
    136: _set("overrideReasons.0.display", ""),
    138: _set("links.0.label", 3),
    139: _set("links.0.url", "frax"),
    141: _set("links.0.type", ...),
    142: _set("links.0.type", "relative"),
    144: lambda card: card["links"][0].update(type="smart", appContext={"a": 1}),
    147: lambda card: card["links"][0].update(appContext="ctx"),
    214: _set("extension", ["urn:osteopenia-cds:rule"]),
    216: _set("source.topic.code", 2),
    217: _set("source.topic.system", ...),
    218: _set("source.topic.code", ...),
    219: _set("overrideReasons.0.display", ...),
    220: _set("source.topic.display", 5),
}


@pytest.mark.parametrize("requirement", CARD_REQUIREMENTS, ids=lambda r: f"req-{r:03d}")
def test_each_card_check_catches_a_violation(requirement: int) -> None:
    assert not violations({"cards": [_card()]}), violations({"cards": [_card()]})
    if requirement == 74:
        response: Any = {"card": []}
    elif requirement == 75:
        response = {"cards": [_card()], "systemActions": []}
    else:
        response = _bad(BAD[requirement])
    assert requirement in {rid for rid, _ in violations(copy.deepcopy(response))}


@pytest.mark.parametrize("length", [139, 140, 141])
def test_req_083_summary_at_139_140_and_141_characters(length: int) -> None:
    """REQ-83 at the boundary: a 139-character summary is sent whole; one of 140 or 141 is
    cut at a word, marked with an ellipsis, and stays under 140 characters."""
    from cds_service.cards import render_card
    from cds_service.guideline.recommendation import Indicator, Recommendation

    words = ("Order a baseline DXA of the hip and spine " * 5)[:length]
    assert len(words) == length
    rec = Recommendation("R1", Indicator.INFO, words, ("Advice.",), references=("BHOF2022",))
    card = render_card(rec, "patient-1")
    summary = card["summary"]
    if length == 139:
        assert summary == words
    else:
        assert len(summary) < 140
        assert summary.endswith("\u2026")
        assert words.startswith(summary[:-1])
        assert not summary[:-1].endswith(" ")  # cut at a word boundary
    assert [v for v in violations({"cards": [card]}) if v[0] == 83] == []
