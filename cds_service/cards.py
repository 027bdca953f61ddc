"""Render guideline recommendations as CDS Hooks 2.0.1 cards.

Every card carries a uuid, the rule id (``source.topic`` and ``extension``) so feedback can
be tied to its rule, the facts it rests on and numbered references. CDS Hooks forbids null
or empty JSON elements, so optional parts are left out rather than sent empty: a card is
built without them (the rule tests check every card for one), and the response's single
cleaning pass (``service_response``) is the net for any card source. Text taken
from the patient's record is escaped before it enters markdown: an EHR renders the detail.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from cds_service.guideline import wording
from cds_service.guideline.gates import DRUG_OF_ORDER
from cds_service.guideline.recommendation import (
    DraftRemoval,
    Evidence,
    OrderKind,
    Recommendation,
)
from cds_service.guideline.references import catalogue, cite, cited_keys
from cds_service.orders import draft_orders, order_label

RULE_SYSTEM = "urn:osteopenia-cds:rule"
OVERRIDE_SYSTEM = "urn:osteopenia-cds:override-reason"

LIFELONG_NOTE = (
    "**Always:** the goal is fracture prevention, not a T-score target. Density that improves "
    "to the normal range does not remove the predisposition: bone health needs lifelong "
    "attention."
)
DETAIL_BUDGET = 2000  # characters of a card's whole detail (clinical-spec §0.4)

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


def _citation_order(rec: Recommendation) -> list[str]:
    """Keys cited inline, in order of use; a card citing nothing inline lists its rule's
    sources (and says so in a "Sources" line)."""
    return cited_keys(rec.advice) or list(rec.references)


def render_detail(rec: Recommendation) -> str:
    """Advice with inline ``[n]`` citations, the facts it rests on, numbered short references.

    The whole detail stays within ``DETAIL_BUDGET`` characters: should a record hold more
    facts than fit, the last facts give way to a line saying how many more there are.
    """
    refs = catalogue().references
    order = _citation_order(rec)
    advice = [cite(line, order) for line in rec.advice]
    uncited = [key for key in order if key not in cited_keys(rec.advice)]
    if uncited:
        advice.append("Sources: " + ", ".join(f"[{order.index(k) + 1}]" for k in uncited) + ".")
    head = [_paragraphs(tuple(advice))]
    if rec.lifelong_note:
        head.append(LIFELONG_NOTE)
    tail = []
    if order:
        tail.append(
            "**References:**\n"
            + "\n".join(f"{n}. {refs[key].short_form}" for n, key in enumerate(order, start=1))
        )
    facts = [_evidence_line(e) for e in rec.evidence]
    shown = len(facts)
    while True:
        lines = facts[:shown]
        if shown < len(facts):
            lines.append(f"- \u2026 and {len(facts) - shown} more in the record")
        blocks = [*head, "**Based on:**\n" + "\n".join(lines) if lines else "", *tail]
        detail = "\n\n".join(b for b in blocks if b)
        if len(detail) <= DETAIL_BUDGET or shown == 0:
            return detail
        shown -= 1


def _source(rec: Recommendation) -> dict[str, Any]:
    cat = catalogue()
    order = _citation_order(rec)
    # the rule's own source when the card cites it, else the first source it cites
    keys = [k for k in rec.references if k in order] or order
    primary = cat.references[keys[0]] if keys else None
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


def _create_action(resource: dict[str, Any], kind: OrderKind) -> dict[str, Any]:
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
    reference string (never through ``resource``, deprecated for deletes); a replacement is a
    ``create`` in the same suggestion, so that accepting it does both."""
    actions: list[dict[str, Any]] = [
        {
            "type": "delete",
            "description": f"Remove the draft order {removal.draft}",
            "resourceId": removal.draft,
        }
    ]
    if removal.replacement is not None:
        replacement = removal.replacement
        drafts = draft_orders(replacement, patient_id, removal.reason)
        actions += [_create_action(resource, replacement) for resource in drafts]
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
        drafts = draft_orders(kind, patient_id, rec.reason)
        label = order_label(kind)
        # The kidney check is for a first dose of an osteoporosis drug, not for the calcium or
        # vitamin D beside it on the same card.
        if rec.companion_orders and kind in DRUG_OF_ORDER:
            for companion in rec.companion_orders:
                drafts += draft_orders(companion, patient_id)
                label += f", with {order_label(companion).removeprefix('Order ')} first"
        actions = [_create_action(resource, kind) for resource in drafts]
        suggestions.append({"label": label, "uuid": str(uuid.uuid4()), "actions": actions})
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
    return card
