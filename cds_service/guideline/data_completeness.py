"""R0: without a birth date no age-dependent rule can speak; the clinician is told so."""

from __future__ import annotations

from .assessment import Assessment
from .eligibility import Population
from .recommendation import Indicator, Recommendation


def birth_date_missing(a: Assessment) -> Recommendation | None:
    if a.eligibility.population is not Population.AGE_UNKNOWN:
        return None
    facts = a.facts
    patient_seen = any(
        n.source is not None and n.source.reference.startswith("Patient/") for n in facts.notes
    )
    bone_data = facts.bone_density_scores or facts.diagnoses or facts.fractures or facts.therapies
    if not patient_seen and not bone_data:
        return None  # nothing about this patient at all: no card to hang the note on
    found = []
    if facts.bone_density_scores:
        found.append(f"{len(facts.bone_density_scores)} DXA score(s)")
    if facts.diagnoses:
        found.append(f"{len(facts.diagnoses)} bone-related diagnosis(es)")
    if facts.fractures:
        found.append(f"{len(facts.fractures)} fracture(s)")
    if facts.therapies:
        found.append(f"{len(facts.therapies)} relevant medicine(s)")
    found_text = (
        f"The record holds {', '.join(found)} that could not be interpreted without the age."
        if found
        else "No bone-health data were found either."
    )
    reason = "The patient's birth date is missing, not a valid date, or after today."
    return Recommendation(
        rule_id="R0",
        indicator=Indicator.INFO,
        summary="Birth date missing: age-dependent bone-health rules (DXA, FRAX, treatment) were "
        "not evaluated",
        advice=(
            f"{reason} Bone density classification, fracture-risk and treatment rules depend on "
            "age (T-scores apply from age 50 or after menopause, never under 18), so none of them "
            "was evaluated.",
            found_text,
            "Record the birth date to receive bone-health recommendations.",
        ),
        references=("ISCD2023",),
    )
