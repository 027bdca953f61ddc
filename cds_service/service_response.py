"""The body of a successful service call: ``{"cards": [...]}`` (+ ``systemActions``).

CDS Hooks forbids null and empty JSON values (except ``"cards": []`` for "no guidance"); the
response is cleaned here once, so no card renderer can leak an empty field to the EHR.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def without_empty_values(value: Any) -> Any:
    """A copy with every null, "", [] and {} member removed, recursively.

    One loop per container, emptiness tested inline: it runs over every card of every
    response, so it is written for speed rather than brevity.
    """
    if isinstance(value, dict):
        cleaned: dict[Any, Any] = {}
        for key, item in value.items():
            if isinstance(item, dict | list):
                item = without_empty_values(item)
                if not item:
                    continue
            elif item is None or (isinstance(item, str) and not item):
                continue
            cleaned[key] = item
        return cleaned
    if isinstance(value, list):
        items: list[Any] = []
        for item in value:
            if isinstance(item, dict | list):
                item = without_empty_values(item)
                if not item:
                    continue
            elif item is None or (isinstance(item, str) and not item):
                continue
            items.append(item)
        return items
    return value


def service_response(
    cards: Sequence[dict[str, Any]], system_actions: Sequence[dict[str, Any]] = ()
) -> dict[str, Any]:
    body: dict[str, Any] = {"cards": without_empty_values(list(cards))}
    actions = without_empty_values(list(system_actions))
    if actions:
        body["systemActions"] = actions
    return body
