"""O7: an aromatase inhibitor or androgen deprivation drafted with no recent DXA."""

from __future__ import annotations

from fhir_mappings.draft_orders import DraftOrder
from fhir_mappings.facts import DrugClass

from .. import wording
from ..dates import add_years
from ..recommendation import Evidence, Indicator, OrderKind, Recommendation, SelectionBehavior
from .session import OrderSession, draft_evidence

_THERAPY = {
    DrugClass.AROMATASE_INHIBITOR: "aromatase inhibitor",
    DrugClass.ANDROGEN_DEPRIVATION: "androgen deprivation therapy",
}


def cancer_therapy_bone_health(session: OrderSession, draft: DraftOrder) -> Recommendation | None:
    therapy = _THERAPY.get(draft.drug_class) if draft.drug_class else None
    a = session.a
    age = a.facts.age_on(a.as_of)
    if therapy is None or (age is not None and age < a.thresholds.minimum_age_years):
        return None
    since = add_years(a.as_of, -a.thresholds.order_cancer_therapy_dxa_recency_years)
    last = a.last_dxa
    if last is not None and last.date >= since:
        return None
    years = wording.number(a.thresholds.order_cancer_therapy_dxa_recency_years)
    if draft.drug_class is DrugClass.AROMATASE_INHIBITOR:
        criteria = (
            "Treat with an antiresorptive when the T-score is below −2.0, or below −1.5 with one "
            "further risk factor, or with two or more risk factors whatever the T-score "
            "{{HADJI2017}}."
        )
    else:
        criteria = (
            "Treat with an antiresorptive when the T-score is −2.5 or lower, or when FRAX "
            "reaches the treatment thresholds {{ASCO2019}}."
        )
    orders: list[OrderKind] = []
    if not session.dxa_drafted():
        orders.append(OrderKind.DXA)
    orders.extend(session.missing_supplements())
    evidence = [draft_evidence(draft)]
    if last is not None:
        evidence.append(
            Evidence(
                "Last DXA",
                last.source.display or "bone density study",
                last.date,
                last.source.reference,
            )
        )
    none_text = "no DXA on record" if last is None else f"last DXA {wording.day(last.date)}"
    return Recommendation(
        rule_id="O7",
        indicator=Indicator.INFO,
        summary=wording.shorten(
            f"{therapy.capitalize()} drafted, {none_text}: baseline DXA, calcium and vitamin D"
        ),
        advice=(
            f"An {therapy} causes bone loss. With {none_text} (none within {years} years), "
            "order a baseline DXA now and repeat it every 1–2 years while on therapy; give "
            "calcium and vitamin D.",
            criteria,
            "Never stop or change the cancer therapy for bone health: protect the bone instead.",
        ),
        evidence=tuple(evidence),
        references=(
            "HADJI2017" if draft.drug_class is DrugClass.AROMATASE_INHIBITOR else "ASCO2019",
            "BHOF2022",
        ),
        orders=tuple(orders),
        selection_behavior=SelectionBehavior.ANY,
    )
