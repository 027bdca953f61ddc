"""Kidney-function equations: CKD-EPI 2021 (race-free) eGFR and Cockcroft–Gault clearance.

Inker LA, et al. New creatinine- and cystatin C-based equations to estimate GFR without race.
N Engl J Med 2021;385:1737-1749. Cockcroft DW, Gault MH. Prediction of creatinine clearance from
serum creatinine. Nephron 1976;16:31-41. Drug labels state their renal limits in creatinine
clearance, so both are computed and the gates use the lower.
"""

from __future__ import annotations

from .facts import Sex


def ckd_epi_2021(creatinine_mg_dl: float, age_years: float, sex: Sex) -> float | None:
    """eGFR in mL/min/1.73 m²; None when sex is not female or male or the inputs are absurd."""
    if sex not in (Sex.FEMALE, Sex.MALE) or creatinine_mg_dl <= 0 or age_years < 18:
        return None
    female = sex is Sex.FEMALE
    kappa = 0.7 if female else 0.9
    alpha = -0.241 if female else -0.302
    ratio = creatinine_mg_dl / kappa
    value = 142 * min(ratio, 1.0) ** alpha * max(ratio, 1.0) ** -1.200 * 0.9938**age_years
    return value * (1.012 if female else 1.0)


def cockcroft_gault(
    creatinine_mg_dl: float, age_years: float, weight_kg: float, sex: Sex
) -> float | None:
    """Creatinine clearance in mL/min (actual body weight); None without a usable sex or input."""
    if sex not in (Sex.FEMALE, Sex.MALE) or creatinine_mg_dl <= 0 or weight_kg <= 0:
        return None
    if age_years < 18 or age_years >= 140:
        return None
    value = (140 - age_years) * weight_kg / (72 * creatinine_mg_dl)
    return value * (0.85 if sex is Sex.FEMALE else 1.0)
