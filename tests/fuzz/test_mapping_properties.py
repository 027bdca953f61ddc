"""Property tests of the clinical core on hostile data: it never raises, it always answers cards.

``fhir_mappings.build_facts`` promises to skip bad data with a DataNote rather than raise, and
the Engine builds on it; the HTTP layer only checks a prefetch's outer shape, so whatever is
inside a Bundle reaches them unfiltered (as does whatever a FHIR server returns). Properties:
no exception escapes, ``build_facts`` returns PatientFacts, and the Engine returns a list of
cards that, as the service sends them, validate against the OpenAPI contract.

Deterministic (``derandomize``) and bounded (``max_examples``), so ``make test`` is
reproducible; ``make fuzz`` runs the same properties with more examples and random seeds.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import fhir_mappings
from cds_service.app import build_engine
from cds_service.service_response import service_response
from cds_service.settings import Settings
from fhir_mappings.facts import PatientFacts
from tests.fuzz.strategies import (
    as_of_dates,
    deep_json,
    json_values,
    mutated_resources,
    patient_ids,
    prefetch_values,
    searchset,
)
from tests.openapi.contract import shared_contract
from tests.openapi.corpus import prefetch_keys

PROPERTY_SETTINGS = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=80,
    # No shrinking: a failure prints its (large) example as found; shrinking huge JSON can
    # take minutes, and the suite must stay bounded.
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@lru_cache(maxsize=1)
def engine() -> Any:
    return build_engine(Settings())


def assert_valid_cards(cards: Any, patient_id: str) -> None:
    assert isinstance(cards, list)
    for card in cards:
        assert isinstance(card, dict)
        assert isinstance(card.get("uuid"), str)
    problems = shared_contract().schema_errors(
        "/components/schemas/HookResponse", service_response(cards)
    )
    assert not problems, problems


prefetches = st.dictionaries(
    st.one_of(st.sampled_from(prefetch_keys()), st.text(max_size=10)),
    prefetch_values(),
    max_size=6,
)


@PROPERTY_SETTINGS
@given(prefetch=prefetches, patient_id=patient_ids, as_of=as_of_dates)
def test_any_json_in_any_prefetch_slot(
    prefetch: dict[str, Any], patient_id: str, as_of: date
) -> None:
    facts = fhir_mappings.build_facts(prefetch, patient_id=patient_id, as_of=as_of)
    assert isinstance(facts, PatientFacts)
    assert_valid_cards(engine().evaluate(prefetch, patient_id=patient_id, as_of=as_of), patient_id)


@PROPERTY_SETTINGS
@given(
    resources=st.lists(mutated_resources(), min_size=1, max_size=12),
    as_of=as_of_dates,
)
def test_real_resources_with_wrong_types_in_any_field(
    resources: list[dict[str, Any]], as_of: date
) -> None:
    # The templates' patients are all here, so the rules see a known patient with broken data.
    for patient_id in ("fuzz", "demo-treatment-indicated", "demo-osteopenia-new"):
        prefetch = {
            "patient": next((r for r in resources if r.get("resourceType") == "Patient"), None),
            "boneDensity": searchset(resources),
        }
        facts = fhir_mappings.build_facts(prefetch, patient_id=patient_id, as_of=as_of)
        assert isinstance(facts, PatientFacts)
        cards = engine().evaluate(prefetch, patient_id=patient_id, as_of=as_of)
        assert_valid_cards(cards, patient_id)


@settings(PROPERTY_SETTINGS, max_examples=30)
@given(value=deep_json(), key=st.sampled_from(prefetch_keys()))
def test_deep_nesting(value: Any, key: str) -> None:
    prefetch = {key: value, "boneDensity": searchset([value])}
    facts = fhir_mappings.build_facts(prefetch, patient_id="fuzz", as_of=date(2024, 6, 1))
    assert isinstance(facts, PatientFacts)
    assert_valid_cards(
        engine().evaluate(prefetch, patient_id="fuzz", as_of=date(2024, 6, 1)), "fuzz"
    )


@settings(PROPERTY_SETTINGS, max_examples=60)
@given(value=json_values)
def test_top_level_prefetch_of_any_type(value: Any) -> None:
    """``build_facts`` takes a Mapping; its values may be anything at all, including lists."""
    prefetch = {"patient": value, "conditions": [value, value]}
    facts = fhir_mappings.build_facts(prefetch, patient_id="fuzz", as_of=date(2024, 6, 1))
    assert isinstance(facts, PatientFacts)
    assert_valid_cards(
        engine().evaluate(prefetch, patient_id="fuzz", as_of=date(2024, 6, 1)), "fuzz"
    )
