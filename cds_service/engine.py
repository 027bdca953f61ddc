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
from cds_service.guideline.order_checks import evaluate_order_checks
from cds_service.guideline.recommendation import Recommendation
from cds_service.guideline.rules import evaluate_rules
from cds_service.guideline.thresholds import Thresholds
from cds_service.hook_request import HookRequest
from cds_service.orders import validate_all_templates
from fhir_mappings.draft_orders import UnreadDraft, map_draft_orders
from fhir_mappings.facts import PatientFacts


@dataclass(frozen=True, slots=True)
class HookAnswer:
    cards: list[dict[str, Any]]
    unread: tuple[UnreadDraft, ...] = ()  # order hooks: drafts the checks could not read


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
        facts = fhir_mappings.build_facts(prefetch, patient_id=patient_id, as_of=as_of)
        return self.cards_for_facts(facts, patient_id=patient_id, as_of=as_of)

    def evaluate_orders(
        self,
        prefetch: Mapping[str, Any],
        draft_orders: Any,
        *,
        patient_id: str,
        as_of: date,
        selections: Sequence[str] | None = None,
    ) -> HookAnswer:
        """Order-check cards about the drafts of an order hook: every draft (order-sign), or
        only the ``selections`` (order-select), judged beside the rest of the session."""
        facts = fhir_mappings.build_facts(prefetch, patient_id=patient_id, as_of=as_of)
        session = map_draft_orders(draft_orders, patient_id=patient_id, as_of=as_of)
        wanted = set(selections) if selections is not None else None
        judged = [d for d in session.orders if wanted is None or d.reference in wanted]
        unread = tuple(u for u in session.unread if wanted is None or u.reference in wanted)
        recommendations = evaluate_order_checks(
            facts, session.orders, judged, as_of, self.thresholds
        )
        cards = [render_card(r, patient_id) for r in recommendations]
        return HookAnswer(cards, unread)


def answer(
    engine: Any, request: HookRequest, prefetch: Mapping[str, Any], *, as_of: date
) -> HookAnswer:
    """The cards for a validated hook request: the guideline rules for patient-view, the order
    checks for order-select and order-sign. (A function, so that any engine with an
    ``evaluate`` method serves patient-view.)"""
    if request.draft_orders is None:
        return HookAnswer(engine.evaluate(prefetch, patient_id=request.patient_id, as_of=as_of))
    return engine.evaluate_orders(
        prefetch,
        request.draft_orders,
        patient_id=request.patient_id,
        as_of=as_of,
        selections=request.selections,
    )
