"""Hypothesis strategies for hostile FHIR data and hostile JSON.

* ``json_values``: any JSON a peer can send (``json.loads`` also yields NaN, ±Infinity and
  integers of any size), with unicode of every plane, big strings and numbers.
* ``mutated_resources``: real resources the rules act on (the demo patients and the DXA,
  osteoporosis and alendronate resources of a Synthea record), with one to three members
  anywhere in them replaced by arbitrary JSON: wrong types in every field.
* ``deep_json``: nesting hundreds of levels deep, as ``json.loads`` accepts from a FHIR server.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
# Codes that make a Synthea resource one the mapping reads (DXA T-score, osteoporosis, the
# bone density scan procedure, alendronate), so the mutations reach the code paths past the
# code filters.
RELEVANT_CODES = ("38265-5", "64859006", "312681000", "904419")

_EXTRA_TEMPLATES: list[dict[str, Any]] = [
    {
        "resourceType": "MedicationStatement",
        "id": "ms-1",
        "status": "active",
        "medicationCodeableConcept": {
            "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "904419"}]
        },
        "subject": {"reference": "Patient/fuzz"},
        "effectivePeriod": {"start": "2018-01-01"},
    },
    {
        "resourceType": "ServiceRequest",
        "id": "sr-1",
        "status": "completed",
        "intent": "order",
        "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "77080"}]},
        "subject": {"reference": "Patient/fuzz"},
        "authoredOn": "2019-05-01",
    },
    {
        "resourceType": "DiagnosticReport",
        "id": "dr-1",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "38268-9"}]},
        "subject": {"reference": "Patient/fuzz"},
        "effectiveDateTime": "2019-05-02",
        "conclusion": "Osteopenia",
    },
    {
        "resourceType": "Observation",
        "id": "frax-1",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "90265-0"}]},
        "subject": {"reference": "Patient/fuzz"},
        "effectiveDateTime": "2020-02-01",
        "valueQuantity": {"value": 8.4, "unit": "%", "system": "http://unitsofmeasure.org"},
    },
    {
        "resourceType": "Observation",
        "id": "vitd-1",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "62292-8"}]},
        "subject": {"reference": "Patient/fuzz"},
        "effectiveDateTime": "2020-02-01",
        "valueQuantity": {"value": 14, "unit": "ng/mL", "comparator": "<"},
    },
]


@lru_cache(maxsize=1)
def resource_templates() -> tuple[dict[str, Any], ...]:
    templates: list[dict[str, Any]] = []
    for path in sorted((FIXTURES / "demo").glob("*.json")):
        bundle = json.loads(path.read_text("utf-8"))
        templates.extend(e["resource"] for e in bundle["entry"])
    synthea = sorted((FIXTURES / "synthea").glob("Gayla_*.json"))
    for path in synthea[:1]:
        bundle = json.loads(path.read_text("utf-8"))
        for entry in bundle["entry"]:
            resource = entry["resource"]
            text = json.dumps(resource)
            if resource["resourceType"] == "Patient" or any(c in text for c in RELEVANT_CODES):
                templates.append(resource)
    templates.extend(_EXTRA_TEMPLATES)
    return tuple(templates)


def member_paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path to a member or item, the root excluded."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield (*prefix, key)
            yield from member_paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield (*prefix, index)
            yield from member_paths(child, (*prefix, index))


def _set(document: Any, path: tuple[Any, ...], value: Any) -> None:
    target = document
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value


# -- JSON ------------------------------------------------------------------------------------

big_integers = st.one_of(
    st.integers(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.sampled_from([2**63, -(2**63) - 1, 10**4300 - 1]),
)
floats = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([1e308, -0.0, 5e-324])
big_strings = st.builds(
    lambda piece, times: piece * times,
    st.text(min_size=1, max_size=3),
    st.integers(min_value=1_000, max_value=200_000),
)
texts = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            " ",
            "\x00",
            "\ud800",  # a lone surrogate, as json.loads("\"\\ud800\"") gives
            "\u202e\u0000\ufeff",
            "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 🦴",
            "1999-13-45",
            "2020-02-30T25:61:61Z",
            "0000-01-01",
            "9999-12-31T23:59:59.999999999+14:00",
            "-5",
            "1e309",
            "NaN",
            "Patient/",
            "http://loinc.org",
            "38265-5",
        ]
    ),
    big_strings,
)
# Member names the mapping looks for, so random objects sometimes look like FHIR.
FHIR_KEYS = [
    "resourceType",
    "id",
    "code",
    "coding",
    "system",
    "value",
    "valueQuantity",
    "effectiveDateTime",
    "status",
    "entry",
    "resource",
    "link",
]
scalars = st.one_of(st.none(), st.booleans(), big_integers, floats, texts)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(st.one_of(texts, st.sampled_from(FHIR_KEYS)), children, max_size=5),
    ),
    max_leaves=25,
)


@st.composite
def deep_json(draw: st.DrawFn) -> Any:
    depth = draw(st.integers(min_value=50, max_value=900))
    leaf = draw(scalars.filter(lambda v: not isinstance(v, str) or len(v) < 100))
    value: Any = leaf
    for level in range(depth):
        value = [value] if (level + draw(st.integers(0, 1))) % 2 else {"resource": value}
    return value


@st.composite
def mutated_resources(draw: st.DrawFn) -> dict[str, Any]:
    resource = copy.deepcopy(draw(st.sampled_from(resource_templates())))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = list(member_paths(resource))
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        replacement = draw(st.one_of(json_values, st.just(None), deep_json()))
        if path == ("resourceType",) and draw(st.booleans()):
            continue  # keep most resources typed, so they reach the type's mapper
        _set(resource, path, replacement)
    return resource


def searchset(resources: list[Any]) -> dict[str, Any]:
    entries = [{"resource": r} for r in resources]
    return {"resourceType": "Bundle", "type": "searchset", "entry": entries}


@st.composite
def prefetch_values(draw: st.DrawFn) -> Any:
    """What one prefetch slot may hold: data, broken data, or anything at all."""
    return draw(
        st.one_of(
            st.none(),
            json_values,
            mutated_resources(),
            st.lists(mutated_resources(), max_size=6).map(searchset),
            st.lists(st.lists(mutated_resources(), max_size=3).map(searchset), max_size=3),
            st.lists(st.one_of(mutated_resources(), json_values), max_size=4).map(searchset),
            deep_json(),
        )
    )


as_of_dates = st.one_of(
    st.just(date(2024, 6, 1)), st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 1, 1))
)
# The HTTP layer admits only FHIR ids as context.patientId; the core may rely on that.
patient_ids = st.one_of(
    st.sampled_from(["fuzz", "demo-treatment-indicated"]),
    st.from_regex(r"\A[A-Za-z0-9\-.]{1,64}\Z"),
)
