"""The body of a successful service call: ``{"cards": [...]}`` (+ ``systemActions``).

CDS Hooks forbids null and empty JSON values (except ``"cards": []`` for "no guidance"); the
response is cleaned here once, so no card renderer can leak an empty field to the EHR.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def without_empty_values(value: Any) -> Any:
    """A copy with every null, "", [] and {} member removed, recursively."""
    if isinstance(value, dict):
        cleaned = {k: without_empty_values(v) for k, v in value.items()}
        return {k: v for k, v in cleaned.items() if not _is_empty(v)}
    if isinstance(value, list):
        cleaned_items = [without_empty_values(v) for v in value]
        return [v for v in cleaned_items if not _is_empty(v)]
    return value


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | dict) and len(value) == 0)


def service_response(
    cards: Sequence[dict[str, Any]], system_actions: Sequence[dict[str, Any]] = ()
) -> dict[str, Any]:
    body: dict[str, Any] = {"cards": without_empty_values(list(cards))}
    actions = without_empty_values(list(system_actions))
    if actions:
        body["systemActions"] = actions
    return body
