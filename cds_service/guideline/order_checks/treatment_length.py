"""O4: a bisphosphonate drafted after years of bisphosphonate therapy (ASBMR 2016)."""

from __future__ import annotations

from fhir_mappings.draft_orders import DraftOrder
from fhir_mappings.facts import DrugClass

from .. import wording
from ..recommendation import Evidence, Indicator, Recommendation
from ..therapy import episode_spans, episodes, exposure_days
from .session import OrderSession, draft_evidence


def _years_taken(session: OrderSession, drug_class: DrugClass) -> tuple[float, list[Evidence]]:
    """Cumulative years of a drug class so far, current or not (gaps under the bridge count)."""
    a = session.a
    found = episodes(a.facts, {drug_class})
    spans = [s for e in found for s in episode_spans(e, a.as_of, a.thresholds)]
    days = exposure_days(spans, a.as_of, a.thresholds.therapy_gap_bridge_days)
    evidence = [
        Evidence(
            f"{e.ingredient.capitalize()} ({e.drug_class.value})",
            f"{wording.day(p.start)} to {wording.day(p.end) if p.end else 'ongoing'}",
            p.start,
            p.source.reference,
        )
        for e in found
        for p in e.periods
    ]
    return days / 365.25, evidence


def bisphosphonate_treatment_length(
    session: OrderSession, draft: DraftOrder
) -> Recommendation | None:
    if draft.drug_class not in (DrugClass.ORAL_BISPHOSPHONATE, DrugClass.IV_BISPHOSPHONATE):
        return None
    th = session.a.thresholds
    oral_years, oral_evidence = _years_taken(session, DrugClass.ORAL_BISPHOSPHONATE)
    iv_years, iv_evidence = _years_taken(session, DrugClass.IV_BISPHOSPHONATE)
    oral_due = oral_years >= th.oral_bisphosphonate_review_years
    iv_due = iv_years >= th.iv_bisphosphonate_review_years
    if not oral_due and not iv_due:
        return None
    taken = []
    if oral_due:
        taken.append(f"{oral_years:.1f} years of oral bisphosphonate")
    if iv_due:
        taken.append(f"{iv_years:.1f} years of zoledronic acid")
    history = " and ".join(taken)
    advice = [
        f"The patient has already had **{history}** (gaps under "
        f"{th.therapy_gap_bridge_days} days counted as therapy). After "
        f"{wording.number(th.oral_bisphosphonate_review_years)} years of oral or "
        f"{wording.number(th.iv_bisphosphonate_review_years)} years of intravenous therapy, "
        "reassess fracture risk before continuing: if no longer at high risk, consider a drug "
        "holiday of 2–3 years with review; if still at high risk, continue up to 10 years oral "
        "or 6 years intravenous {{ASBMR2016}}.",
    ]
    if oral_years >= th.oral_bisphosphonate_max_years:
        advice.append(
            f"Beyond {wording.number(th.oral_bisphosphonate_max_years)} years the risk of atypical "
            "femoral fracture rises: ask about thigh or groin pain, and continue only while the "
            "patient is still at very high risk."
        )
    return Recommendation(
        rule_id="O4",
        indicator=Indicator.INFO,
        summary=wording.shorten(
            f"{(draft.ingredient or 'Bisphosphonate').capitalize()} drafted after {history}: "
            "reassess; drug holiday if no longer high risk"
        ),
        advice=tuple(advice),
        evidence=(draft_evidence(draft), *oral_evidence, *iv_evidence),
        references=("ASBMR2016", "ACP2023"),
    )
