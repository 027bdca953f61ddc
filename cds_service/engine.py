"""The clinical core: FHIR prefetch → bone-health facts → guideline rules → cards.

Pure computation (no I/O): the web service, the command line and tests all call it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import fhir_mappings
from cds_service.cards import render_card
from cds_service.governance import facts_fingerprint
from cds_service.guideline.order_checks import evaluate_order_checks
from cds_service.guideline.recommendation import Recommendation
from cds_service.guideline.rules import evaluate_rules
from cds_service.guideline.thresholds import Thresholds
from cds_service.orders import validate_all_templates
from fhir_mappings.draft_orders import UnreadDraft, map_draft_orders
from fhir_mappings.facts import PatientFacts


@dataclass(frozen=True, slots=True)
class OrderAnswer:
    """The order checks' cards, with what governance and the log need beside them."""

    cards: list[dict[str, Any]]
    facts_fingerprint: str
    unread: tuple[UnreadDraft, ...]  # drafts the checks could not read: named in the log


class Engine:
    def __init__(self, thresholds: Thresholds) -> None:
        self.thresholds = thresholds
        validate_all_templates()  # a broken order template fails start-up, not a request

    def recommendations(self, facts: PatientFacts, *, as_of: date) -> list[Recommendation]:
        return evaluate_rules(facts, as_of, self.thresholds)

    def cards_for_facts(
        self, facts: PatientFacts, *, patient_id: str, as_of: date
    ) -> list[dict[str, Any]]:
        return [render_card(r, patient_id) for r in self.recommendations(facts, as_of=as_of)]

    def evaluate(
        self, prefetch: Mapping[str, Any], *, patient_id: str, as_of: date
    ) -> list[dict[str, Any]]:
        """JSON-ready CDS Hooks cards for one patient on ``as_of``."""
        return self.assess(prefetch, patient_id=patient_id, as_of=as_of)[0]

    def assess(
        self, prefetch: Mapping[str, Any], *, patient_id: str, as_of: date
    ) -> tuple[list[dict[str, Any]], str]:
        """The cards, and the fingerprint of the facts a snooze of them rests on."""
        facts = fhir_mappings.build_facts(prefetch, patient_id=patient_id, as_of=as_of)
        cards = self.cards_for_facts(facts, patient_id=patient_id, as_of=as_of)
        return cards, facts_fingerprint(facts)

    def evaluate_orders(
        self,
        prefetch: Mapping[str, Any],
        draft_orders: Any,
        *,
        patient_id: str,
        as_of: date,
        selections: Sequence[str] | None = None,
    ) -> OrderAnswer:
        """Order-check cards about the drafts of an order hook: every draft (order-sign), or
        only the ``selections`` (order-select), each judged beside the rest of the session."""
        facts = fhir_mappings.build_facts(prefetch, patient_id=patient_id, as_of=as_of)
        session = map_draft_orders(draft_orders, patient_id=patient_id, as_of=as_of)
        wanted = set(selections) if selections is not None else None
        judged = [d for d in session.orders if wanted is None or d.reference in wanted]
        unread = tuple(u for u in session.unread if wanted is None or u.reference in wanted)
        recommendations = evaluate_order_checks(
            facts, session.orders, judged, as_of, self.thresholds
        )
        cards = [render_card(r, patient_id) for r in recommendations]
        return OrderAnswer(cards, facts_fingerprint(facts), unread)
