"""Code sets, loaded once at import from the JSON/CSV files in ``data/``.

Everything here is immutable (frozensets, tuples, read-only mappings) so the rest of the
package can share it between threads without copying.
"""

from __future__ import annotations

import csv
import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

DATA = Path(__file__).resolve().parent / "data"

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CPT = "http://www.ama-assn.org/go/cpt"

Key = tuple[str, str]  # (system, code)


def _load(name: str) -> Any:
    with (DATA / name).open(encoding="utf-8") as handle:
        return json.load(handle)


_SYSTEM_ALIASES: Mapping[str, str] = MappingProxyType(
    {
        alias: canonical
        for canonical, aliases in _load("systems.json").items()
        if not canonical.startswith("_")
        for alias in [canonical, *aliases]
    }
)


def normalise_system(system: str) -> str:
    found = _SYSTEM_ALIASES.get(system)
    if found is not None:
        return found
    return _SYSTEM_ALIASES.get(system.strip(), system.strip())


_ICD_NO_DOT = re.compile(r"^([A-Z][0-9][0-9A-Z])([0-9A-Z]{1,4})$")


def normalise_code(system: str, code: str) -> str:
    """ICD-10-CM codes are compared upper-case with their dot (``s72001a`` → ``S72.001A``)."""
    code = code.strip()
    if system == ICD10CM:
        code = code.upper()
        match = _ICD_NO_DOT.match(code)
        if match:
            code = f"{match.group(1)}.{match.group(2)}"
    return code


@dataclass(frozen=True, slots=True)
class ValueSetCode:
    system: str
    code: str
    display: str


def load_valueset(oid: str) -> tuple[ValueSetCode, ...]:
    """The expansion of one VSAC value set copied into ``data/valuesets``."""
    expansion = _load(f"valuesets/{oid}.json").get("expansion", {})
    return tuple(
        ValueSetCode(
            normalise_system(item["system"]),
            normalise_code(normalise_system(item["system"]), item["code"]),
            item.get("display", ""),
        )
        for item in expansion.get("contains", [])
    )


def _keys(items: Any) -> frozenset[Key]:
    return frozenset(
        (normalise_system(s), normalise_code(normalise_system(s), c)) for s, c in items
    )


# --- Observations ---------------------------------------------------------------------------
_OBS = _load("observations.json")

DXA_SCORES: Mapping[str, tuple[str, str, str]] = MappingProxyType(
    {code: tuple(spec) for code, spec in _OBS["dxa_scores"].items()}  # type: ignore[misc]
)
DXA_SCORE_UNITS = frozenset(_OBS["dxa_score_units"])
DXA_SCORE_RANGE: tuple[float, float] = tuple(_OBS["dxa_score_plausible_range"])  # type: ignore[assignment]
DXA_BMD_SITES: Mapping[str, tuple[str, str]] = MappingProxyType(
    {code: (spec[0], spec[1]) for code, spec in _OBS["dxa_bmd"].items()}
)
DXA_BMD = frozenset(DXA_BMD_SITES)
DXA_BMD_UNITS = frozenset(_OBS["dxa_bmd_units"])
DXA_NONDIAGNOSTIC = frozenset(_OBS["dxa_nondiagnostic"])
DXA_EVENT_CODES: frozenset[Key] = frozenset(
    (normalise_system(system), code)
    for system, codes in _OBS["dxa_events"].items()
    for code in codes
)
DXA_REPORT_CODES = frozenset(_OBS["dxa_report_codes"])
FRAX: Mapping[str, str] = MappingProxyType(dict(_OBS["frax"]))
FRAX_PERCENT_UNITS = frozenset(_OBS["frax_percent_units"])
FRAX_FRACTION_UNITS = frozenset(_OBS["frax_fraction_units"])
VITAMIN_D: Mapping[str, str] = MappingProxyType(dict(_OBS["vitamin_d"]))
VITAMIN_D_AMBIGUOUS = frozenset(_OBS["vitamin_d_ambiguous"])
VITAMIN_D_UNITS: Mapping[str, str] = MappingProxyType(dict(_OBS["vitamin_d_units"]))
VITAMIN_D_NMOL_PER_NG: float = float(_OBS["vitamin_d_nmol_per_ng"])
VITAMIN_D_EXCLUDED_WORDS: tuple[str, ...] = tuple(_OBS["vitamin_d_excluded_words"])
SMOKING_CODES = frozenset(_OBS["smoking_codes"])
SMOKING_ANSWERS: Mapping[str, str] = MappingProxyType(dict(_OBS["smoking_answers"]))
ALCOHOL_CODES = frozenset(_OBS["alcohol_drinks_per_day"])
ALCOHOL_UNITS_PER_DAY: Mapping[str, float] = MappingProxyType(
    {unit.lower(): float(factor) for unit, factor in _OBS["alcohol_units_per_day"].items()}
)
AUDIT_C_CODES = frozenset(_OBS["audit_c"])
# Osteoporosis Self-Assessment Tool score, LOINC 98146-4 (CMS249 value set: V)
RISK_TOOLS: Mapping[str, str] = MappingProxyType(dict(_OBS["risk_tools"]))
LATERALITY_CODES: Mapping[str, str] = MappingProxyType(dict(_OBS["laterality_codes"]))

# --- Laboratory results of clinical-spec §0.1 (labs.json) ---------------------------------
_LABS = _load("labs.json")


def _lab_codes(group: str) -> frozenset[str]:
    return frozenset(code for code in _LABS[group] if not code.startswith("_"))


EGFR = _lab_codes("egfr")
EGFR_UNITS = frozenset(_LABS["egfr_units"])
CREATININE = _lab_codes("creatinine")
CREATININE_TO_MG_DL: Mapping[str, float] = MappingProxyType(dict(_LABS["creatinine_units"]))
WEIGHT = _lab_codes("weight")
WEIGHT_TO_KG: Mapping[str, float] = MappingProxyType(dict(_LABS["weight_units"]))
BODY_MASS_INDEX = _lab_codes("body_mass_index")
BODY_MASS_INDEX_UNITS = frozenset(_LABS["body_mass_index_units"])
BODY_MASS_INDEX_RANGE: tuple[float, float] = tuple(_LABS["body_mass_index_plausible_range"])  # type: ignore[assignment]
CALCIUM_TOTAL = _lab_codes("calcium_total")
CALCIUM_IONIZED = _lab_codes("calcium_ionized")
CALCIUM_UNITS: Mapping[str, str] = MappingProxyType(dict(_LABS["calcium_units"]))
ALBUMIN = _lab_codes("albumin")
ALBUMIN_TO_G_DL: Mapping[str, float] = MappingProxyType(dict(_LABS["albumin_units"]))
ALBUMIN_PAIRING_DAYS: int = int(_LABS["albumin_pairing_days"])
LAB_CODES = EGFR | CREATININE | WEIGHT | BODY_MASS_INDEX | CALCIUM_TOTAL | CALCIUM_IONIZED | ALBUMIN

#: Every LOINC code an Observation must carry for the mapper to look any deeper.
OBSERVATION_CODES_OF_INTEREST = frozenset(
    set(DXA_SCORES)
    | DXA_BMD
    | DXA_REPORT_CODES
    | {code for system, code in DXA_EVENT_CODES if system == LOINC}
    | set(FRAX)
    | set(VITAMIN_D)
    | SMOKING_CODES
    | ALCOHOL_CODES
    | AUDIT_C_CODES
    | set(RISK_TOOLS)
    | LAB_CODES
)

# --- Conditions -----------------------------------------------------------------------------
_COND = _load("conditions.json")


def _valueset_keys(group: str) -> frozenset[Key]:
    return frozenset(
        (item.system, item.code) for oid in _COND["valuesets"][group] for item in load_valueset(oid)
    )


_OSTEOPOROSIS_M80_M81 = tuple(
    item for oid in _COND["valuesets"]["osteoporosis (M80/M81)"] for item in load_valueset(oid)
)
PREMATURITY = _keys(_COND["extra"]["osteopenia of prematurity"])
OSTEOPENIA = _valueset_keys("osteopenia") - PREMATURITY
OSTEOPOROSIS_WITH_FRACTURE = _valueset_keys("osteoporosis with current fracture") | frozenset(
    (i.system, i.code) for i in _OSTEOPOROSIS_M80_M81 if i.code.startswith("M80")
)
OSTEOPOROSIS = (
    _valueset_keys("osteoporosis")
    | frozenset((i.system, i.code) for i in _OSTEOPOROSIS_M80_M81 if i.code.startswith("M81"))
) - OSTEOPOROSIS_WITH_FRACTURE
MENOPAUSE = _valueset_keys("menopause") | _keys(_COND["extra"]["menopause"])
VITAMIN_D_DEFICIENCY = _keys(_COND["extra"]["vitamin D deficiency"])
PARENT_HIP_FRACTURE = _valueset_keys("parental hip fracture")


def _v2_keys(group: str) -> frozenset[Key]:
    """A version-2 group of conditions.json: rows of [system, code, where it was verified]."""
    return _keys((system, code) for system, code, _source in _COND["v2"][group])


PREMATURE_MENOPAUSE = _v2_keys("premature menopause or primary ovarian insufficiency") | frozenset(
    (item.system, item.code)
    for oid in _COND["v2_premature_menopause_valuesets"]
    for item in load_valueset(oid)
)
CKD_SEVERE = _v2_keys("chronic kidney disease stage 4-5")
DIALYSIS = _v2_keys("dialysis")
ACUTE_KIDNEY_INJURY = _v2_keys("acute kidney injury")
ADRENAL_INSUFFICIENCY = _v2_keys("adrenal insufficiency")
OESOPHAGEAL_DISEASE = _v2_keys("oesophageal stricture or achalasia")

_SITE_WORDS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(rf"\b{re.escape(word)}", re.IGNORECASE), site)
    for word, site in _COND["fracture_site_words"]
)


def site_from_words(text: str) -> str:
    """Fracture site named in a display (value-set codes carry their site only in words)."""
    for pattern, site in _SITE_WORDS:
        if pattern.search(text):
            return site
    return "unspecified"


def _osteoporotic_fracture_sites() -> Mapping[Key, str]:
    words = tuple(_COND["osteoporotic_fracture_words"])
    sites: dict[Key, str] = {}
    members = [
        *(
            item
            for oid in _COND["valuesets"]["osteoporosis with current fracture"]
            for item in load_valueset(oid)
        ),
        *(i for i in _OSTEOPOROSIS_M80_M81 if i.code.startswith("M80")),
        # The 113.12.1038 version also holds osteoporotic *fracture* SNOMED codes.
        *(
            item
            for oid in _COND["valuesets"]["osteoporosis"]
            for item in load_valueset(oid)
            if any(word in item.display.lower() for word in words)
            and "without" not in item.display.lower()
        ),
    ]
    for item in members:
        sites[(item.system, item.code)] = site_from_words(item.display)
    for key in _keys(_COND["fracture_history_codes"]):
        sites[key] = "unspecified"
    return MappingProxyType(sites)


#: (system, code) → site for fractures coded as osteoporotic (fragility whatever the age).
OSTEOPOROTIC_FRACTURES: Mapping[Key, str] = _osteoporotic_fracture_sites()
FRACTURE_HISTORY = _keys(_COND["fracture_history_codes"])
FRACTURE_ICD10_PREFIXES: Mapping[str, str] = MappingProxyType(
    dict(_COND["fracture_icd10_prefixes"])
)
FRACTURE_SNOMED: Mapping[str, str] = MappingProxyType(dict(_COND["fracture_snomed"]))
ICD10_INITIAL_ENCOUNTER = frozenset(_COND["icd10_initial_encounter_chars"])

CONDITION_SYSTEMS = frozenset({SNOMED, ICD10CM})

# --- Medications ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ingredient:
    name: str
    drug_class: str
    injectable_class: str | None
    systemic_only: bool
    dose_interval_days: int
    prednisone_factor: float | None = None  # glucocorticoids: mg prednisone per mg


_ING = _load("ingredients.json")
INGREDIENTS: Mapping[str, Ingredient] = MappingProxyType(
    {
        name: Ingredient(
            name,
            spec["class"],
            spec.get("injectable_class"),
            bool(spec.get("systemic_only")),
            int(spec.get("dose_interval_days", 1)),
            spec.get("prednisone_factor"),
        )
        for name, spec in _ING.items()
        if not name.startswith("_")
    }
)
# A monoclonal antibody may carry its four-letter FDA suffix ("romosozumab-aqqg",
# "denosumab-bbdz"); other hyphenated words ("calcium-channel blocker") are not the ingredient.
_FDA_SUFFIX = r"(?:-[a-z]{4})?"
#: (compiled word pattern, ingredient), longest name first so "methylprednisolone" wins.
INGREDIENT_NAMES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (
        re.compile(
            rf"(?<![\w-]){re.escape(word)}{_FDA_SUFFIX if word.endswith('mab') else ''}(?![\w-])",
            re.IGNORECASE,
        ),
        ingredient,
    )
    for word, ingredient in sorted(
        (
            (word, name)
            for name, spec in _ING.items()
            if not name.startswith("_")
            for word in spec["names"]
        ),
        key=lambda pair: -len(pair[0]),
    )
)


def ingredient_from_words(text: str) -> str | None:
    # Each call tries every ingredient pattern in turn; medication texts repeat from request to
    # request (the same RxNorm displays), so short ones are remembered. Long free text is not,
    # to keep the cache's memory bounded whatever a caller sends.
    if len(text) <= _CACHED_TEXT_MAX:
        return _ingredient_from_words_cached(text)
    return _ingredient_from_words(text)


_CACHED_TEXT_MAX = 512


def _ingredient_from_words(text: str) -> str | None:
    for pattern, ingredient in INGREDIENT_NAMES:
        if pattern.search(text):
            return ingredient
    return None


_ingredient_from_words_cached = functools.lru_cache(maxsize=4096)(_ingredient_from_words)


@dataclass(frozen=True, slots=True)
class MedicationCode:
    ingredient: str
    route_known: bool  # the code itself fixes the form (SCD/SBD/value-set member)


def _medication_codes() -> Mapping[Key, MedicationCode]:
    table: dict[Key, MedicationCode] = {}
    with (DATA / "medications.csv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            system = normalise_system(row["system"])
            table[(system, row["code"])] = MedicationCode(row["ingredient"], row["tty"] != "IN")
    for oid in _load("medication_valuesets.json")["valuesets"]:
        for item in load_valueset(oid):
            ingredient = ingredient_from_words(item.display)
            if ingredient is None:
                raise ValueError(f"no ingredient for {item.code} {item.display!r} in {oid}")
            table[(item.system, item.code)] = MedicationCode(ingredient, True)
    for key, entry in table.items():
        if entry.ingredient not in INGREDIENTS:
            raise ValueError(f"unknown ingredient {entry.ingredient!r} for {key}")
    return MappingProxyType(table)


MEDICATION_CODES: Mapping[Key, MedicationCode] = _medication_codes()

_FORMS = _load("medication_forms.json")


def _word_pattern(words: list[str]) -> re.Pattern[str]:
    return re.compile(
        r"\b(?:" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) + r")",
        re.IGNORECASE,
    )


NON_SYSTEMIC_WORDS = _word_pattern(_FORMS["non_systemic_words"])
INJECTABLE_WORDS = _word_pattern(_FORMS["injectable_words"])
ORAL_ROUTES = _keys(_FORMS["oral_route_codes"])
NON_SYSTEMIC_ROUTES = _keys(_FORMS["non_systemic_route_codes"])
