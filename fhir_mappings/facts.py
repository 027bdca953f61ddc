"""Typed bone-health facts: the contract between the FHIR mapping layer and the guideline rules.

Every fact carries a ``Provenance`` (resource reference and date) so a card can show
exactly which data it rests on. The rules never see FHIR JSON, only these objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where a fact came from: ``Observation/abc`` and the clinically relevant date."""

    reference: str
    date: date | None
    display: str | None = None  # the code's display or text, for the card's fact list


class Sex(StrEnum):
    FEMALE = "female"
    MALE = "male"
    OTHER = "other"
    UNKNOWN = "unknown"


class ScoreKind(StrEnum):
    T = "T"
    Z = "Z"


class DxaSite(StrEnum):
    LUMBAR_SPINE = "lumbar spine"
    TOTAL_HIP = "total hip"
    FEMORAL_NECK = "femoral neck"
    FOREARM = "forearm"  # 33 % radius; counts only when none of the central sites exists


class Laterality(StrEnum):
    LEFT = "left"
    RIGHT = "right"
    UNSPECIFIED = "unspecified"


@dataclass(frozen=True, slots=True)
class BoneDensityScore:
    """One DXA T- or Z-score at one site, as reported (never rounded)."""

    kind: ScoreKind
    site: DxaSite
    laterality: Laterality
    value: float
    source: Provenance


@dataclass(frozen=True, slots=True)
class BoneMineralDensity:
    """One DXA bone mineral density in g/cm² at one site, as reported."""

    site: DxaSite
    laterality: Laterality
    g_per_cm2: float
    source: Provenance


@dataclass(frozen=True, slots=True)
class DxaStudy:
    """Scores whose dates lie within the study window (30 days) of the study's latest date."""

    date: date
    scores: tuple[BoneDensityScore, ...]


@dataclass(frozen=True, slots=True)
class DxaEvent:
    """A DXA that was done (Procedure, completed ServiceRequest or a score Observation)."""

    date: date
    source: Provenance


class FraxKind(StrEnum):
    MAJOR_OSTEOPOROTIC = "major osteoporotic"
    HIP = "hip"


@dataclass(frozen=True, slots=True)
class FraxRisk:
    kind: FraxKind
    percent: float  # 0–100; fractions (≤ 1 with unit "1" or no unit) already multiplied by 100
    source: Provenance


@dataclass(frozen=True, slots=True)
class RiskToolScore:
    """A fracture-risk screening tool's score (OST, LOINC 98146-4), as R10 reads it."""

    tool: str
    score: float
    source: Provenance


@dataclass(frozen=True, slots=True)
class VitaminDLevel:
    """Total 25(OH)D in ng/mL; ``comparator`` keeps "<" / ">" from the lab."""

    ng_per_ml: float
    comparator: str | None
    original_value: float
    original_unit: str
    source: Provenance
    code: str = ""  # the LOINC code it was read from
    ambiguous_analyte: bool = False  # 49054-0 "25-Hydroxycalciferol": meaning unclear


class SmokingStatus(StrEnum):
    CURRENT = "current"
    FORMER = "former"
    NEVER = "never"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class SmokingFact:
    status: SmokingStatus
    source: Provenance


@dataclass(frozen=True, slots=True)
class AlcoholFact:
    drinks_per_day: float
    source: Provenance


@dataclass(frozen=True, slots=True)
class AuditCScore:
    """AUDIT-C total score (LOINC 75626-2), 0–12."""

    score: float
    source: Provenance


class DiagnosisKind(StrEnum):
    OSTEOPENIA = "osteopenia"
    OSTEOPOROSIS = "osteoporosis"
    OSTEOPOROSIS_WITH_FRACTURE = "osteoporosis with current fracture"
    VITAMIN_D_DEFICIENCY = "vitamin D deficiency"
    OSTEOPENIA_OF_PREMATURITY = "osteopenia of prematurity"
    MENOPAUSE = "menopause"
    PARENT_HIP_FRACTURE = "parental hip fracture"  # FRAX input (value set 113.12.1040)
    # version 2 inputs (clinical-spec §0.1)
    PREMATURE_MENOPAUSE = "premature menopause or primary ovarian insufficiency"
    CKD_SEVERE = "chronic kidney disease stage 4-5"  # N18.4-N18.6 and kin
    DIALYSIS = "dialysis"
    ACUTE_KIDNEY_INJURY = "acute kidney injury"
    ADRENAL_INSUFFICIENCY = "adrenal insufficiency"
    OESOPHAGEAL_DISEASE = "oesophageal stricture or achalasia"
    GASTRIC_BYPASS = "Roux-en-Y gastric bypass"


@dataclass(frozen=True, slots=True)
class Diagnosis:
    kind: DiagnosisKind
    system: str
    code: str
    source: Provenance  # source.date: onset, else recordedDate
    clinical_status: str | None = None  # active / recurrence / inactive / remission / resolved


class FractureSite(StrEnum):
    HIP = "hip"
    VERTEBRA = "vertebra"
    WRIST = "wrist"  # distal forearm
    PROXIMAL_HUMERUS = "proximal humerus"
    PELVIS = "pelvis"
    OTHER = "other"
    UNSPECIFIED = "unspecified"  # e.g. M80.0- without site


@dataclass(frozen=True, slots=True)
class Fracture:
    """One fracture event (initial/subsequent/sequela codes of one event merged)."""

    site: FractureSite
    osteoporotic_coded: bool  # M80.-, 443165006 and kin: fragility whatever the age
    onset: date | None
    age_at_onset: float | None
    system: str
    code: str
    source: Provenance
    sources: tuple[Provenance, ...] = ()  # every Condition merged into this event

    @property
    def is_fragility(self) -> bool:
        """Fragility history: coded osteoporotic, or a major site with onset at age 50 or later."""
        if self.osteoporotic_coded:
            return True
        return self.age_at_onset is not None and self.age_at_onset >= 50


class DrugClass(StrEnum):
    ORAL_BISPHOSPHONATE = "oral bisphosphonate"
    IV_BISPHOSPHONATE = "intravenous bisphosphonate"  # zoledronic acid (and IV ibandronate)
    DENOSUMAB = "denosumab"
    ANABOLIC = "anabolic agent"
    RALOXIFENE = "raloxifene"
    CALCIUM = "calcium"
    VITAMIN_D = "vitamin D"
    GLUCOCORTICOID = "glucocorticoid"
    AROMATASE_INHIBITOR = "aromatase inhibitor"
    ANDROGEN_DEPRIVATION = "androgen deprivation"
    OTHER_BONE_LOSS = "other bone-loss medicine"


class MatchedBy(StrEnum):
    CODE = "code"  # RxNorm SCD/SBD/IN code or value-set membership
    INGREDIENT_NAME = "ingredient name"  # last resort, from display or text


class PeriodKind(StrEnum):
    ORDER = "order"  # MedicationRequest
    STATEMENT = "statement"  # MedicationStatement
    ADMINISTRATION = "administration"  # MedicationAdministration: the drug was given


@dataclass(frozen=True, slots=True)
class GlucocorticoidDose:
    """A glucocorticoid's daily dose as prescribed, and its prednisone equivalent."""

    mg_per_day: float | None  # of the ingredient itself; None: not recorded or unreadable
    prednisone_mg_per_day: float | None
    how: str  # "structured dose", "dose text", or why it could not be read
    readable: bool = True  # False: a dose was written but could not be read


@dataclass(frozen=True, slots=True)
class TherapyPeriod:
    start: date
    end: date | None  # None: open (active, no end known); rules clamp to the evaluation date
    source: Provenance
    status: str | None = None  # the order's or statement's status (active, completed, stopped)
    kind: PeriodKind = PeriodKind.ORDER
    dose: GlucocorticoidDose | None = None  # glucocorticoids only


@dataclass(frozen=True, slots=True)
class TherapyEpisode:
    """All periods of one ingredient within one drug class."""

    drug_class: DrugClass
    ingredient: str  # lower-case name, e.g. "alendronate"
    matched_by: MatchedBy
    periods: tuple[TherapyPeriod, ...]


class KidneyMethod(StrEnum):
    EGFR_REPORTED = "eGFR"
    EGFR_CKD_EPI_2021 = "eGFR computed from creatinine (CKD-EPI 2021, race-free)"
    CRCL_COCKCROFT_GAULT = "creatinine clearance (Cockcroft-Gault)"


@dataclass(frozen=True, slots=True)
class KidneyFunction:
    """One kidney-function estimate: a reported eGFR, or one computed from a creatinine."""

    method: KidneyMethod
    value: float  # mL/min/1.73 m² (eGFR) or mL/min (creatinine clearance)
    source: Provenance  # the eGFR or creatinine Observation
    creatinine_mg_dl: float | None = None  # the creatinine a computed value rests on
    weight_kg: float | None = None  # Cockcroft-Gault only
    weight_source: Provenance | None = None


@dataclass(frozen=True, slots=True)
class BodyMassIndex:
    """The latest body mass index (kg/m²) on record: R10 reads low body weight from it."""

    kg_per_m2: float
    source: Provenance


class CalciumKind(StrEnum):
    TOTAL = "total calcium"
    IONIZED = "ionized calcium"


@dataclass(frozen=True, slots=True)
class CalciumResult:
    """A serum calcium; total calcium corrected for albumin when an albumin was measured with it.

    Values are in the result's own unit (mg/dL or mmol/L), so a boundary is compared as the
    laboratory reported it; the guideline's gate decides what is low.
    """

    kind: CalciumKind
    measured: float
    value: float  # corrected total calcium, or the measured value when it cannot be corrected
    unit: str  # "mg/dL" or "mmol/L"
    source: Provenance
    albumin_g_dl: float | None = None  # the albumin used for the correction
    albumin_source: Provenance | None = None
    reference_low: float | None = None  # the laboratory's own low limit, in ``unit``

    @property
    def corrected(self) -> bool:
        return self.albumin_g_dl is not None


@dataclass(frozen=True, slots=True)
class UnreadableValue:
    """A value the record holds but the service could not read (no unit, unknown unit, ...).

    It decides nothing; the card that would have used it says it could not be read.
    """

    what: str  # "eGFR", "creatinine", "calcium", "albumin", "glucocorticoid dose"
    reason: str
    source: Provenance


@dataclass(frozen=True, slots=True)
class DataNote:
    """Something the mapper noticed that a clinician may need to know (e.g. no birthDate)."""

    message: str
    source: Provenance | None = None


@dataclass(slots=True)
class PatientFacts:
    patient_reference: str
    birth_date: date | None = None
    sex: Sex = Sex.UNKNOWN
    # Patient.deceased[x] says the patient had died by the evaluation date
    deceased: bool = False
    bone_density_scores: list[BoneDensityScore] = field(default_factory=list)
    bone_mineral_density: list[BoneMineralDensity] = field(default_factory=list)  # chronological
    dxa_events: list[DxaEvent] = field(default_factory=list)
    frax: list[FraxRisk] = field(default_factory=list)
    risk_tools: list[RiskToolScore] = field(default_factory=list)
    vitamin_d: list[VitaminDLevel] = field(default_factory=list)
    smoking: SmokingFact | None = None  # only the most recent counts
    alcohol: AlcoholFact | None = None  # most recent
    audit_c: AuditCScore | None = None  # most recent
    diagnoses: list[Diagnosis] = field(default_factory=list)
    fractures: list[Fracture] = field(default_factory=list)
    therapies: list[TherapyEpisode] = field(default_factory=list)
    kidney: list[KidneyFunction] = field(default_factory=list)  # chronological
    calcium: list[CalciumResult] = field(default_factory=list)  # chronological
    body_mass_index: BodyMassIndex | None = None  # most recent
    unreadable: list[UnreadableValue] = field(default_factory=list)
    notes: list[DataNote] = field(default_factory=list)

    def age_on(self, on: date) -> int | None:
        if self.birth_date is None:
            return None
        years = on.year - self.birth_date.year
        if (on.month, on.day) < (self.birth_date.month, self.birth_date.day):
            years -= 1
        return years
