"""The order checks in order, run over the drafts a hook asks about."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date

from fhir_mappings.draft_orders import DraftOrder
from fhir_mappings.facts import PatientFacts

from ..assessment import assess
from ..recommendation import Indicator, Recommendation
from ..thresholds import Thresholds
from .calcium_vitamin_d import calcium_and_vitamin_d
from .cancer_therapy import cancer_therapy_bone_health
from .duplicate_therapy import duplicate_therapy
from .dxa_interval import dxa_too_early
from .glucocorticoid import glucocorticoid_bone_protection
from .kidney import kidney_function
from .session import OrderSession
from .treatment_length import bisphosphonate_treatment_length

OrderCheck = Callable[[OrderSession, DraftOrder], Recommendation | None]

ORDER_CHECKS: tuple[OrderCheck, ...] = (
    kidney_function,  # O1
    calcium_and_vitamin_d,  # O2
    duplicate_therapy,  # O3
    bisphosphonate_treatment_length,  # O4
    dxa_too_early,  # O5
    glucocorticoid_bone_protection,  # O6
    cancer_therapy_bone_health,  # O7
)

_SEVERITY = {Indicator.CRITICAL: 0, Indicator.WARNING: 1, Indicator.INFO: 2}


def evaluate_order_checks(
    facts: PatientFacts,
    session_drafts: Sequence[DraftOrder],
    judged: Sequence[DraftOrder],
    as_of: date,
    thresholds: Thresholds,
) -> list[Recommendation]:
    """Cards about the ``judged`` drafts (order-select: the selected ones; order-sign: all),
    seen beside every draft of the session; the most severe first, at most one per check and
    draft. Nothing for a patient who has died."""
    if facts.deceased or not judged:
        return []
    session = OrderSession(assess(facts, as_of, thresholds), tuple(session_drafts))
    found: list[Recommendation] = []
    for draft in judged:
        for check in ORDER_CHECKS:
            recommendation = check(session, draft)
            if recommendation is not None:
                found.append(recommendation)
    return sorted(found, key=lambda r: _SEVERITY[r.indicator])
