"""Checks of a CDS Hooks service response against the Service SHALLs of the 2.0 card model.

``violations(response)`` returns ``(requirement id, message)`` pairs; the requirement ids are
those of ``cds-hooks-2.0-requirements.csv``. Used on the real engine's cards for every fixture
patient, and checked against hand-made bad cards so a check cannot silently pass.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from fhir.resources.R4B import get_fhir_model_class

Violation = tuple[int, str]
INDICATORS = {"info", "warning", "critical"}
SELECTION_BEHAVIORS = {"at-most-one", "any"}
ACTION_TYPES = {"create", "update", "delete"}
LINK_TYPES = {"absolute", "smart"}


def _absolute_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in {"http", "https"} and bool(parts.netloc)


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return isinstance(value, str)


def _empties(value: Any, path: str) -> Iterator[str]:
    if value is None or (isinstance(value, str | list | dict) and len(value) == 0):
        yield path
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _empties(child, f"{path}.{key}")
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _empties(child, f"{path}[{index}]")


def _coding(value: Any, path: str, *, display_required: bool) -> Iterator[Violation]:
    if not isinstance(value, dict):
        yield 115, f"{path} is not a Coding object"
        return
    if not isinstance(value.get("code"), str):
        yield 216, f"{path}.code is not a string"
        yield 218, f"{path}.code is not a string"
    if not isinstance(value.get("system"), str):
        yield 217, f"{path}.system is not a string"
    display = value.get("display")
    if display_required and not (isinstance(display, str) and display.strip()):
        yield 219, f"{path}.display is missing"
    if display is not None and not isinstance(display, str):
        yield 220, f"{path}.display is not a string"


def _fhir_resource(resource: Any, path: str) -> Iterator[Violation]:
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        yield 130, f"{path} is not a FHIR resource"
        return
    try:
        model = get_fhir_model_class(resource["resourceType"])
        model.model_validate(resource)
    except Exception as exc:
        yield 130, f"{path} is not a valid FHIR R4 {resource['resourceType']}: {exc}"[:300]


def _action(action: Any, path: str) -> Iterator[Violation]:
    if not isinstance(action, dict):
        yield 124, f"{path} is not an Action object"
        return
    kind = action.get("type")
    if kind not in ACTION_TYPES:
        yield 127, f"{path}.type {kind!r} is not create/update/delete"
    if not isinstance(action.get("description"), str):
        yield 128, f"{path}.description is not a string"
    if "resource" in action:
        if kind == "delete":
            yield 133, f"{path}: a delete action carries a resource"
        else:
            yield from _fhir_resource(action["resource"], f"{path}.resource")
    if kind == "create" and "resource" not in action:
        yield 131, f"{path}: a create action without a resource"
    if kind == "update" and not (
        isinstance(action.get("resource"), dict) and action["resource"].get("id")
    ):
        yield 132, f"{path}: an update action without the entire resource (with its id)"
    if kind == "delete" and "resourceId" not in action:
        yield 134, f"{path}: a delete action without resourceId"
    if "resourceId" in action and not isinstance(action["resourceId"], str):
        yield 135, f"{path}.resourceId is not a string"


def _suggestion(suggestion: Any, path: str) -> Iterator[Violation]:
    if not isinstance(suggestion, dict):
        yield 92, f"{path} is not a Suggestion object"
        return
    if not isinstance(suggestion.get("label"), str) or not suggestion["label"].strip():
        yield 117, f"{path}.label is missing"
    if "uuid" in suggestion and not isinstance(suggestion["uuid"], str):
        yield 119, f"{path}.uuid is not a string"
    if "isRecommended" in suggestion and not isinstance(suggestion["isRecommended"], bool):
        yield 121, f"{path}.isRecommended is not a boolean"
    actions = suggestion.get("actions")
    if actions is not None and not isinstance(actions, list):
        yield 124, f"{path}.actions is not an array"
    elif actions is not None:
        for index, action in enumerate(actions):
            yield from _action(action, f"{path}.actions[{index}]")
    if not actions:
        yield 125, f"{path} has no actions to apply together"


def _link(link: Any, path: str) -> Iterator[Violation]:
    if not isinstance(link, dict):
        yield 103, f"{path} is not a Link object"
        return
    if not isinstance(link.get("label"), str):
        yield 138, f"{path}.label is not a string"
    if not _absolute_url(link.get("url")):
        yield 139, f"{path}.url is not an absolute URL"
    if not isinstance(link.get("type"), str):
        yield 141, f"{path}.type is not a string"
    elif link["type"] not in LINK_TYPES:
        yield 142, f"{path}.type {link['type']!r} is not absolute/smart"
    if "appContext" in link:
        if not isinstance(link["appContext"], str):
            yield 144, f"{path}.appContext is not a string"
        if link.get("type") == "absolute":
            yield 147, f"{path}: appContext on an absolute link"


def _extension(value: Any, path: str) -> Iterator[Violation]:
    if not isinstance(value, dict):
        yield 214, f"{path}.extension is not a JSON object"


def _card(card: Any, path: str) -> Iterator[Violation]:
    if not isinstance(card, dict):
        yield 74, f"{path} is not a Card object"
        return
    if not _is_uuid(card.get("uuid")):
        yield 80, f"{path}.uuid is missing or not a UUID string"
    summary = card.get("summary")
    if not isinstance(summary, str) or not summary.strip() or len(summary) >= 140:
        yield 83, f"{path}.summary is missing or not under 140 characters"
    if "detail" in card and not isinstance(card["detail"], str):
        yield 85, f"{path}.detail is not a (markdown) string"
    if isinstance(card.get("detail"), str) and "<script" in card["detail"].lower():
        yield 85, f"{path}.detail carries a script"
    indicator = card.get("indicator")
    if not isinstance(indicator, str):
        yield 87, f"{path}.indicator is missing"
    elif indicator not in INDICATORS:
        yield 88, f"{path}.indicator {indicator!r} is not info/warning/critical"
        yield 89, f"{path}.indicator cannot be used to sort by urgency"
    source = card.get("source")
    if not isinstance(source, dict):
        yield 90, f"{path}.source is not an object"
    else:
        if not isinstance(source.get("label"), str) or not source["label"].strip():
            yield 105, f"{path}.source.label is missing"
        if "url" in source and not _absolute_url(source["url"]):
            yield 107, f"{path}.source.url is not an absolute URL"
        if "icon" in source and not _absolute_url(source["icon"]):
            yield 111, f"{path}.source.icon is not an absolute URL"
        if "topic" in source:
            yield from _coding(source["topic"], f"{path}.source.topic", display_required=False)
        if "extension" in source:
            yield from _extension(source["extension"], f"{path}.source")
    suggestions = card.get("suggestions")
    if suggestions is not None:
        if not isinstance(suggestions, list):
            yield 92, f"{path}.suggestions is not an array"
        else:
            for index, suggestion in enumerate(suggestions):
                yield from _suggestion(suggestion, f"{path}.suggestions[{index}]")
            if suggestions and "selectionBehavior" not in card:
                yield 93, f"{path} has suggestions but no selectionBehavior"
    if "selectionBehavior" in card:
        if not isinstance(card["selectionBehavior"], str):
            yield 96, f"{path}.selectionBehavior is not a string"
        elif card["selectionBehavior"] not in SELECTION_BEHAVIORS:
            yield 95, f"{path}.selectionBehavior {card['selectionBehavior']!r} is not allowed"
        if not suggestions:
            yield 96, f"{path}.selectionBehavior without suggestions"
    reasons = card.get("overrideReasons")
    if reasons is not None:
        if not isinstance(reasons, list):
            yield 98, f"{path}.overrideReasons is not an array of Coding"
        else:
            for index, reason in enumerate(reasons):
                reason_path = f"{path}.overrideReasons[{index}]"
                found = list(_coding(reason, reason_path, display_required=True))
                yield from found
                if any(rid == 219 for rid, _ in found):
                    yield 100, f"{reason_path} has no display"
                    yield 136, f"{reason_path} has no human-readable display"
    links = card.get("links")
    if links is not None:
        if not isinstance(links, list):
            yield 103, f"{path}.links is not an array"
        else:
            for index, link in enumerate(links):
                yield from _link(link, f"{path}.links[{index}]")
    if "extension" in card:
        yield from _extension(card["extension"], path)


def violations(response: Any) -> list[Violation]:
    found: list[Violation] = []
    if not isinstance(response, dict) or not isinstance(response.get("cards"), list):
        return [(74, "the response has no cards array")]
    if set(response) - {"cards", "systemActions", "extension"}:
        found.append((74, f"unexpected members {sorted(set(response) - {'cards'})}"))
    if "systemActions" in response:
        actions = response["systemActions"]
        if not isinstance(actions, list) or not actions:
            found.append((75, "systemActions present but not a non-empty array"))
        else:
            for index, action in enumerate(actions):
                found.extend(_action(action, f"systemActions[{index}]"))
    for index, card in enumerate(response["cards"]):
        found.extend(_card(card, f"cards[{index}]"))
    # "cards": [] is the one empty value the spec allows (no guidance).
    for index, card in enumerate(response["cards"]):
        found.extend((3, f"{path} is null or empty") for path in _empties(card, f"cards[{index}]"))
    ids = [c.get("uuid") for c in response["cards"] if isinstance(c, dict)]
    ids += [
        s.get("uuid")
        for c in response["cards"]
        if isinstance(c, dict)
        for s in c.get("suggestions") or []
        if isinstance(s, dict)
    ]
    if len(ids) != len(set(map(str, ids))):
        found.append((80, "card/suggestion uuids are not unique"))
    return found
