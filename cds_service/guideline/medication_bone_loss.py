"""R8: medicines that cause bone loss (glucocorticoids 3 months or more, and others)."""

from __future__ import annotations

from fhir_mappings.facts import DrugClass

from . import wording
from .assessment import Assessment
from .recommendation import Evidence, Indicator, Recommendation
from .therapy import BONE_LOSS_MEDICINES, current_episodes, episode_spans, exposure_days


def medication_bone_loss(a: Assessment) -> Recommendation | None:
    if not a.low_bone_mass:
        return None
    th = a.thresholds
    named: list[str] = []
    evidence: list[Evidence] = []
    glucocorticoid_found = False
    for episode in current_episodes(a.facts, BONE_LOSS_MEDICINES, a.as_of, th):
        days = exposure_days(episode_spans(episode, a.as_of, th), a.as_of)
        if episode.drug_class is DrugClass.GLUCOCORTICOID:
            if days < th.glucocorticoid_min_days:
                continue  # short courses do not count (ACR 2022: more than 3 months)
            glucocorticoid_found = True
            named.append(f"{episode.ingredient} ({days // 30} months)")
        else:
            named.append(episode.ingredient)
        for period in episode.periods:
            end = wording.day(period.end) if period.end else "ongoing"
            evidence.append(
                Evidence(
                    f"{episode.ingredient.capitalize()} ({episode.drug_class.value})",
                    f"{wording.day(period.start)} to {end}",
                    period.start,
                    period.source.reference,
                )
            )
    if not named:
        return None
    advice = [
        f"Current medicines that cause bone loss: **{', '.join(named)}**.",
        "Bone density may improve after the causative agent is stopped or reduced: review "
        "whether each is still needed, use the lowest effective dose, and consider DXA and FRAX.",
    ]
    if glucocorticoid_found:
        advice.append(
            "Glucocorticoids for 3 months or more (ACR 2022: prednisone 2.5 mg/day or more): "
            "ensure calcium and vitamin D, assess fracture risk with FRAX (adjusted for the "
            "glucocorticoid dose) and DXA, and treat moderate or high risk."
        )
    return Recommendation(
        rule_id="R8",
        indicator=Indicator.INFO,
        summary=wording.shorten(
            f"Bone-loss medicine: {', '.join(named)}: review the need; consider DXA and FRAX"
        ),
        advice=tuple(advice),
        evidence=tuple(evidence),
        references=("ACR2022", "BHOF2022"),
    )
