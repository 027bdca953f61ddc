"""Demo patients: small FHIR R4 transaction bundles, one per guideline rule that can speak.

The bundles in ``tests/fixtures/demo/`` are written as of ``ANCHOR``. The rules look at ages
and at how long ago a scan, a lab or a prescription was (DXA every 2-3 years, 25(OH)D within a
year, five years of alendronate), so a fixed calendar date would make the cards drift as
time passes. ``shifted_bundle`` moves every date and dateTime by the same number of days so
that the patient's record ends just before the evaluation date, whatever that date is.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

DEMO_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "demo"
ANCHOR = date(2026, 1, 1)

# FHIR date, dateTime and instant values: YYYY-MM-DD with an optional time part. Partial
# dates (YYYY, YYYY-MM) do not occur in the demo bundles.
_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})(T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2}))?$")


@dataclass(frozen=True, slots=True)
class DemoPatient:
    patient_id: str
    rules: tuple[str, ...]  # the rules expected to speak for this patient
    story: str


DEMO_PATIENTS: tuple[DemoPatient, ...] = (
    DemoPatient(
        "demo-osteopenia-new",
        ("R2", "R3", "R5"),
        "woman, 62, femoral neck T -1.8 last year; no FRAX, no vitamin D level, no therapy",
    ),
    DemoPatient(
        "demo-treatment-indicated",
        ("R2", "R3", "R4"),
        "woman, 68, osteopenia (hip T -2.1), FRAX 21% / hip 3.3%, 25(OH)D 15 ng/mL, smoker",
    ),
    DemoPatient(
        "demo-dxa-overdue",
        ("R2", "R6"),
        "man, 72, femoral neck T -1.5 four years ago, low FRAX, vitamin D replete",
    ),
    DemoPatient(
        "demo-bisphosphonate-review",
        ("R6", "R7"),
        "woman, 70, osteoporosis, on alendronate for six and a half years, vitamin D replete "
        "(nothing for R2 to act on); DXA two years ago, due",
    ),
    DemoPatient(
        "demo-hip-fracture",
        ("R2", "R4", "R6"),
        "woman, 78, hip fracture last month, no DXA, no treatment, 25(OH)D 24 ng/mL: very "
        "high fracture risk with a referral; a baseline DXA for monitoring",
    ),
    DemoPatient(
        "demo-screening-due",
        ("R10",),
        "woman, 67, no bone density study ever: osteoporosis screening due (USPSTF 2025)",
    ),
    DemoPatient(
        "demo-glucocorticoid",
        ("R2", "R8"),
        "woman, 58, postmenopausal, femoral neck T -1.4, prednisone for nine months",
    ),
    DemoPatient(
        "demo-low-zscore",
        ("R1",),
        "man, 39, lumbar spine Z -2.3",
    ),
    DemoPatient(
        "demo-prematurity",
        ("R9",),
        "infant, 4 months, osteopenia of prematurity",
    ),
    # Version 2 (clinical-spec §0): the safety gates and the patients version 1 missed
    DemoPatient(
        "demo-kidney-egfr25",
        ("R2", "R4"),
        "woman, 74, lumbar spine T -2.9, eGFR 25 last month: treatment indicated but no "
        "bisphosphonate draft; evaluate CKD-MBD and refer",
    ),
    DemoPatient(
        "demo-zoledronic-given",
        (),
        "woman, 72, osteoporosis, zoledronic acid infusion given 7 months ago "
        "(MedicationAdministration, no order): covered for a year, so no R4",
    ),
    DemoPatient(
        "demo-vitamin-d-7",
        ("R2", "R3"),
        "woman, 66, osteopenia, 25(OH)D 7 ng/mL: repletion first (50,000 IU weekly for 8 "
        "weeks) and the osteomalacia labs",
    ),
    DemoPatient(
        "demo-prednisone-no-dxa",
        ("R8",),
        "woman, 47, prednisone 10 mg daily for four months, never a DXA: ACR 2022 card with a "
        "DXA draft",
    ),
    DemoPatient(
        "demo-hydrocortisone-replacement",
        (),
        "man, 59, Addison's disease on hydrocortisone 15 mg AM, 5 mg PM: replacement, no R8",
    ),
    DemoPatient(
        "demo-denosumab-overdue",
        ("R2", "R6", "R7"),
        "woman, 75, seven denosumab injections, the last 9 months ago: overdue, with the "
        "follow-on drafts (zoledronic acid preferred after 2.5 years)",
    ),
    DemoPatient(
        "demo-premature-menopause",
        ("R2", "R4"),
        "woman, 42, premature menopause, lumbar spine T -2.6: hormone therapy first",
    ),
    DemoPatient(
        "demo-oesophageal-stricture",
        ("R2", "R4"),
        "woman, 73, oesophageal stricture, lumbar spine T -2.8: no oral bisphosphonate; "
        "zoledronic acid or denosumab instead",
    ),
    DemoPatient(
        "demo-alendronate-ready",
        ("R2", "R4"),
        "woman, 71, lumbar spine T -2.9, eGFR 78, calcium and vitamin D normal: every gate "
        "passes, alendronate or risedronate offered (the order checks start from here)",
    ),
    DemoPatient(
        "demo-nothing-to-say",
        (),
        "man, 42, no bone-health data: the service stays silent",
    ),
)


def _shift_value(value: str, days: int) -> str:
    match = _DATE.match(value)
    if match is None:
        return value
    day = date.fromisoformat(match.group(1)) + timedelta(days=days)
    return day.isoformat() + (match.group(2) or "")


def _shift(node: Any, days: int) -> Any:
    if isinstance(node, dict):
        return {key: _shift(value, days) for key, value in node.items()}
    if isinstance(node, list):
        return [_shift(item, days) for item in node]
    if isinstance(node, str):
        return _shift_value(node, days)
    return node


def shifted_bundle(path: Path, today: date) -> dict[str, Any]:
    """The bundle at ``path`` with its dates moved from ``ANCHOR`` to ``today``."""
    bundle = json.loads(path.read_text(encoding="utf-8"))
    return _shift(bundle, (today - ANCHOR).days)


def demo_bundles(today: date | None = None) -> dict[str, dict[str, Any]]:
    """Every demo bundle, keyed by patient id, dated relative to ``today``."""
    today = today or date.today()
    return {
        patient.patient_id: shifted_bundle(DEMO_DIR / f"{patient.patient_id}.json", today)
        for patient in DEMO_PATIENTS
    }
