"""O2: an antiresorptive drafted while calcium is low or vitamin D severely deficient (§0.2.2-3).

The gates are ``gates.calcium_finding`` and ``gates.vitamin_d_finding``, as for patient-view.
"""

from __future__ import annotations

from fhir_mappings.draft_orders import DraftOrder
from fhir_mappings.facts import DrugClass

from .. import wording
from ..gates import calcium_finding, vitamin_d_finding
from ..recommendation import Indicator, OrderKind, Recommendation
from .session import OrderSession, draft_drug, draft_evidence, remove


def calcium_and_vitamin_d(session: OrderSession, draft: DraftOrder) -> Recommendation | None:
    drug = draft_drug(draft)
    if drug is None:
        return None
    a = session.a
    calcium = calcium_finding(a, drug)
    vitamin_d = vitamin_d_finding(a, drug)
    findings = [f for f in (calcium, vitamin_d) if f is not None]
    if not findings:
        return None
    orders: list[OrderKind] = []
    repleting = session.drafted(DrugClass.VITAMIN_D)
    if vitamin_d is not None and not repleting:
        orders.append(OrderKind.VITAMIN_D_REPLETION)
    name = drug.value.capitalize()
    return Recommendation(
        rule_id="O2",
        indicator=Indicator.CRITICAL if calcium is not None else Indicator.WARNING,
        summary=wording.shorten(f"{name} drafted: {findings[0].reason}; correct it first"),
        advice=tuple(
            [f"**Correct first:** {f.reason}; {f.instead}." for f in findings]
            + [
                "An antiresorptive lowers serum calcium further: hypocalcaemia must be corrected "
                "and vitamin D repleted before the first dose {{HOLICK2011}}."
            ]
        ),
        evidence=(draft_evidence(draft), *(e for f in findings for e in f.evidence)),
        references=("HOLICK2011", "KDIGO2017"),
        orders=tuple(orders),
        removals=(remove(draft),),
    )
