"""R7: treatment duration review (ASBMR 2016, ACP 2023) and stopped denosumab."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from fhir_mappings.facts import DrugClass, TherapyEpisode

from . import wording
from .assessment import Assessment
from .recommendation import Evidence, Indicator, Recommendation
from .therapy import BISPHOSPHONATES, episode_spans, episodes, exposure_days, is_current, merge


@dataclass(frozen=True, slots=True)
class Exposure:
    drug_class: DrugClass
    ingredients: tuple[str, ...]
    days: int
    since: date
    episodes: tuple[TherapyEpisode, ...]

    @property
    def years(self) -> float:
        return self.days / 365.25


@dataclass(frozen=True, slots=True)
class StoppedDenosumab:
    last_covered: date  # the day the last injection's cover ended
    episode: TherapyEpisode


def _exposure(a: Assessment, drug_class: DrugClass) -> Exposure | None:
    """Cumulative exposure to a drug class that is still being taken."""
    found = episodes(a.facts, {drug_class})
    if not any(is_current(e, a.as_of, a.thresholds) for e in found):
        return None
    spans = [s for e in found for s in episode_spans(e, a.as_of, a.thresholds)]
    bridge = a.thresholds.therapy_gap_bridge_days
    days = exposure_days(spans, a.as_of, bridge)
    since = merge(spans, bridge)[-1][0]
    names = tuple(sorted({e.ingredient for e in found}))
    return Exposure(drug_class, names, days, since, tuple(found))


def stopped_denosumab(a: Assessment) -> StoppedDenosumab | None:
    """Denosumab whose cover ended (plus grace) with no bisphosphonate taken after it."""
    th = a.thresholds
    found = episodes(a.facts, {DrugClass.DENOSUMAB})
    spans = [s for e in found for s in episode_spans(e, a.as_of, th)]
    if not spans or any(start <= a.as_of <= end for start, end in spans):
        return None
    last_end = max(end for _, end in spans)
    if a.as_of <= last_end + timedelta(days=th.denosumab_stop_grace_days):
        return None
    for episode in episodes(a.facts, BISPHOSPHONATES):
        if any(end >= last_end for _, end in episode_spans(episode, a.as_of, th)):
            return None  # a follow-on bisphosphonate protects against rebound
    episode = max(
        found,
        key=lambda e: max(
            end for _, end in episode_spans(e, a.as_of, th) or [(date.min, date.min)]
        ),
    )
    return StoppedDenosumab(last_end, episode)


def _therapy_evidence(exposure: Exposure) -> list[Evidence]:
    items = []
    for episode in exposure.episodes:
        for period in episode.periods:
            end = wording.day(period.end) if period.end else "ongoing"
            items.append(
                Evidence(
                    f"{episode.ingredient.capitalize()} ({episode.drug_class.value})",
                    f"{wording.day(period.start)} to {end}",
                    period.start,
                    period.source.reference,
                )
            )
    return items


def duration_review(a: Assessment) -> Recommendation | None:
    if not a.eligibility.adult_rules:
        return None
    th = a.thresholds
    oral = _exposure(a, DrugClass.ORAL_BISPHOSPHONATE)
    if oral is not None and oral.days < th.oral_bisphosphonate_review_years * 365:
        oral = None
    iv = _exposure(a, DrugClass.IV_BISPHOSPHONATE)
    if iv is not None and iv.days < th.iv_bisphosphonate_review_years * 365:
        iv = None
    denosumab = stopped_denosumab(a)
    if oral is None and iv is None and denosumab is None:
        return None

    parts: list[str] = []
    advice: list[str] = []
    evidence: list[Evidence] = []
    if denosumab is not None:
        parts.append(
            f"Denosumab stopped (cover ended {wording.day(denosumab.last_covered)}) with no "
            "follow-on bisphosphonate: rebound fracture risk"
        )
        advice.append(
            "**Denosumab is never given a drug holiday.** Its effect wears off within months of "
            "the last injection, with rebound bone loss and multiple vertebral fractures. The "
            f"last injection's cover ended on {wording.day(denosumab.last_covered)} and no "
            "bisphosphonate followed: restart denosumab or start a bisphosphonate (for example "
            "zoledronic acid or alendronate) now (Endocrine Society 2020)."
        )
        for period in denosumab.episode.periods:
            evidence.append(
                Evidence(
                    "Denosumab",
                    f"{wording.day(period.start)} to "
                    + (wording.day(period.end) if period.end else "ongoing"),
                    period.start,
                    period.source.reference,
                )
            )
    for exposure, review_years, limit_years in (
        (oral, th.oral_bisphosphonate_review_years, th.oral_bisphosphonate_max_years),
        (iv, th.iv_bisphosphonate_review_years, None),
    ):
        if exposure is None:
            continue
        names = ", ".join(exposure.ingredients)
        parts.append(
            f"{names.capitalize()} for {exposure.years:.1f} years: reassess fracture risk; "
            "drug holiday only if no longer high risk"
        )
        kind = "oral bisphosphonate" if exposure is oral else "zoledronic acid"
        advice.append(
            f"The patient has taken {kind} ({names}) for **{exposure.years:.1f} years** "
            f"(since {wording.day(exposure.since)}; gaps under {th.therapy_gap_bridge_days} days "
            f"counted as therapy). After {wording.number(review_years)} years, reassess fracture "
            "risk (ACP 2023: treat 5 years, then reassess rather than treat to a T-score target)."
        )
        if limit_years is not None and exposure.years >= limit_years:
            advice.append(
                f"Beyond {wording.number(limit_years)} years of therapy, re-evaluate regardless "
                "of risk (ASBMR 2016)."
            )
        evidence.extend(_therapy_evidence(exposure))
    if oral is not None or iv is not None:
        advice.append(
            "If still at high risk (hip T-score at or below −2.5, a major osteoporotic fracture "
            "before or during therapy, or high FRAX) continue up to 10 years oral or 6 years "
            "intravenous; if not, consider a drug holiday of 2–3 years with review of risk "
            "(ASBMR 2016)."
        )
    return Recommendation(
        rule_id="R7",
        indicator=Indicator.WARNING if denosumab is not None else Indicator.INFO,
        summary=wording.shorten("; ".join(parts)),
        advice=tuple(advice),
        evidence=tuple(evidence),
        # the ECTS position and the Endocrine Society guideline are cited for denosumab only
        references=("ASBMR2016", "ACP2023")
        + (("ECTS2021", "ENDO2019") if denosumab is not None else ())
        + ("BHOF2022",),
    )
