"""Render guideline recommendations as CDS Hooks 2.0.1 cards.

Every card carries a uuid, the rule id (``source.topic`` and ``extension``) so feedback can
be tied to its rule, the facts it rests on and numbered references. CDS Hooks forbids null
or empty JSON elements, so optional parts are left out rather than sent empty. Text taken
from the patient's record is escaped before it enters markdown: an EHR renders the detail.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from cds_service.guideline import wording
from cds_service.guideline.recommendation import (
    DraftRemoval,
    Evidence,
    OrderKind,
    Recommendation,
)
from cds_service.guideline.references import catalogue
from cds_service.orders import draft_order, order_label
from cds_service.service_response import without_empty_values

RULE_SYSTEM = "urn:osteopenia-cds:rule"
OVERRIDE_SYSTEM = "urn:osteopenia-cds:override-reason"

LIFELONG_NOTE = (
    "**Always:** the goal is fracture prevention, not a T-score target. Bone density that "
    "improves from the osteopenic to the normal range does not remove the underlying "
    "predisposition to bone loss, so bone health needs lifelong attention."
)

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]~])")  # links, emphasis, code, strikethrough
_WHITESPACE = re.compile(r"\s+")


def escape(text: str) -> str:
    """Record text as literal markdown: no HTML, links, emphasis or line structure."""
    flat = _WHITESPACE.sub(" ", text).strip()
    flat = flat.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MARKDOWN_SPECIAL.sub(r"\\\1", flat)[:300]


def _evidence_line(item: Evidence) -> str:
    parts = [f"{escape(item.label)}: **{escape(item.value)}**"]
    if item.date is not None:
        parts.append(wording.day(item.date))
    if item.reference:
        parts.append(escape(item.reference))
    return "- " + ", ".join(parts)


def _paragraphs(lines: tuple[str, ...]) -> str:
    """Advice lines: bullets stay together, other lines become paragraphs."""
    out: list[str] = []
    for line in lines:
        if not line:
            continue
        last = out[-1].rsplit("\n", 1)[-1] if out else ""
        if line.startswith("- ") and (last.startswith("- ") or last.endswith(":")):
            out[-1] += "\n" + line
        else:
            out.append(line)
    return "\n\n".join(out)


def render_detail(rec: Recommendation) -> str:
    refs = catalogue().references
    blocks = [_paragraphs(rec.advice)]
    if rec.lifelong_note:
        blocks.append(LIFELONG_NOTE)
    if rec.evidence:
        blocks.append("**Based on:**\n" + "\n".join(_evidence_line(e) for e in rec.evidence))
    if rec.references:
        numbered = []
        for number, key in enumerate(rec.references, start=1):
            ref = refs[key]
            line = f"{number}. {ref.citation}"
            if ref.doi:
                line += f" doi:{ref.doi}"
            elif ref.link:
                line += f" {ref.link}"
            numbered.append(line)
        blocks.append("**References:**\n" + "\n".join(numbered))
    return "\n\n".join(b for b in blocks if b)


def _source(rec: Recommendation) -> dict[str, Any]:
    cat = catalogue()
    primary = cat.references[rec.references[0]] if rec.references else None
    source: dict[str, Any] = {
        "label": primary.label if primary else "osteopenia-cds",
        "topic": {
            "system": RULE_SYSTEM,
            "code": rec.rule_id,
            "display": cat.rule_titles[rec.rule_id],
        },
    }
    if primary is not None and primary.link:
        source["url"] = primary.link
    return source


def _create_action(kind: OrderKind, patient_id: str) -> dict[str, Any]:
    resource = draft_order(kind, patient_id)
    text = (resource.get("medicationCodeableConcept") or resource.get("code") or {}).get(
        "text", kind.value
    )
    return {
        "type": "create",
        "description": f"Create a draft {resource['resourceType']}: {text}",
        "resource": resource,
    }


def _removal_suggestion(removal: DraftRemoval, patient_id: str) -> dict[str, Any]:
    """CDS Hooks 2.0.1 Action: a ``delete`` names the draft by ``resourceId``, a relative
    reference string (never through ``resource``, which is deprecated for deletes)."""
    actions: list[dict[str, Any]] = [
        {
            "type": "delete",
            "description": f"Remove the draft order {removal.draft}",
            "resourceId": removal.draft,
        }
    ]
    if removal.replacement is not None:
        actions.append(_create_action(removal.replacement, patient_id))
    return {"label": removal.label, "uuid": str(uuid.uuid4()), "actions": actions}


def render_card(rec: Recommendation, patient_id: str) -> dict[str, Any]:
    card: dict[str, Any] = {
        "uuid": str(uuid.uuid4()),
        "summary": wording.shorten(rec.summary),
        "detail": render_detail(rec),
        "indicator": rec.indicator.value,
        "source": _source(rec),
        "extension": {RULE_SYSTEM: rec.rule_id},
    }
    suggestions = [_removal_suggestion(r, patient_id) for r in rec.removals]
    for kind in rec.orders:
        suggestions.append(
            {
                "label": order_label(kind),
                "uuid": str(uuid.uuid4()),
                "actions": [_create_action(kind, patient_id)],
            }
        )
    if suggestions:
        card["suggestions"] = suggestions
        behavior = rec.selection_behavior.value if rec.selection_behavior else "any"
        card["selectionBehavior"] = behavior
    if rec.override_reasons:
        reasons = catalogue().override_reasons
        card["overrideReasons"] = [
            {"system": OVERRIDE_SYSTEM, "code": key, "display": reasons[key]}
            for key in rec.override_reasons
        ]
    if rec.links:
        card["links"] = [
            {"label": link.label, "url": link.url, "type": "absolute"} for link in rec.links
        ]
    return without_empty_values(card)
