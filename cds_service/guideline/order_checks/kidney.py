"""O1: a bisphosphonate or denosumab drafted past the kidney gate of its label (§0.2.1).

The gate itself is ``gates.kidney_finding``, the one used by patient-view: this check only
decides how loud the card is and what to offer instead.
"""

from __future__ import annotations

from fhir_mappings.draft_orders import DraftOrder

from .. import wording
from ..gates import Drug, KidneyStatus, kidney_finding, kidney_status
from ..recommendation import DraftRemoval, Indicator, OrderKind, Recommendation
from .session import OrderSession, draft_drug, draft_evidence, remove


def _no_result_card(session: OrderSession, draft: DraftOrder, drug: Drug) -> Recommendation:
    days = session.a.thresholds.kidney_result_recency_days
    labs_drafted = any(d.is_kidney_labs for d in session.drafts)
    return Recommendation(
        rule_id="O1",
        indicator=Indicator.INFO,
        summary=wording.shorten(
            f"{drug.value.capitalize()} drafted with no kidney function on record in the last "
            f"{days} days: check creatinine and calcium before the first dose"
        ),
        advice=(
            f"No eGFR or creatinine within {days} days is on record. {drug.value.capitalize()} "
            "is limited by kidney function (drug label): check creatinine (eGFR) and calcium "
            "before the first dose {{KDIGO2017}}.",
        ),
        evidence=(draft_evidence(draft),),
        references=("KDIGO2017",),
        orders=() if labs_drafted else (OrderKind.KIDNEY_LABS,),
    )


def kidney_function(session: OrderSession, draft: DraftOrder) -> Recommendation | None:
    drug = draft_drug(draft)
    if drug is None:
        return None
    a = session.a
    status: KidneyStatus = kidney_status(a)
    finding = kidney_finding(status, drug, a.thresholds)
    if finding is None:
        if not status.measured and status.severe_ckd is None and status.dialysis is None:
            return _no_result_card(session, draft, drug)
        return None
    # Alendronate between the risedronate and alendronate limits: risedronate is allowed.
    switch = (
        drug is Drug.ALENDRONATE and kidney_finding(status, Drug.RISEDRONATE, a.thresholds) is None
    )
    critical = finding.contraindicated and not switch
    removal: DraftRemoval = remove(draft, OrderKind.RISEDRONATE if switch else None)
    if switch:
        instead = "risedronate is allowed at this level: replace the draft with risedronate"
        summary = f"Alendronate drafted: {finding.reason}; risedronate instead"
    elif critical:
        instead = finding.instead
        summary = f"{drug.value.capitalize()} contraindicated: {finding.reason}"
    else:
        instead = finding.instead
        summary = f"{drug.value.capitalize()} drafted: {finding.reason}"
    return Recommendation(
        rule_id="O1",
        indicator=Indicator.CRITICAL if critical else Indicator.WARNING,
        summary=wording.shorten(summary),
        advice=(
            f"**Do not sign this {drug.value} order as it stands:** {finding.reason}.",
            f"Instead, {instead}.",
        ),
        evidence=(draft_evidence(draft), *finding.evidence),
        references=("KDIGO2017",),
        removals=(removal,),
    )
