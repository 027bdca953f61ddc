from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from cds_service.engine import Engine
from cds_service.guideline.thresholds import load_thresholds

from .card_rules import check_cards

AS_OF = date(2026, 11, 25)


@pytest.fixture(scope="session")
def engine() -> Engine:
    return Engine(load_thresholds())


Run = Callable[..., dict[str, dict[str, Any]]]


@pytest.fixture
def run(engine: Engine) -> Run:
    """Evaluate a prefetch through the engine; check every card; return cards by rule id."""

    def _run(
        prefetch: dict[str, Any], pid: str, as_of: date = AS_OF, using: Engine | None = None
    ) -> dict[str, dict[str, Any]]:
        cards = (using or engine).evaluate(prefetch, patient_id=pid, as_of=as_of)
        return check_cards(cards, pid)

    return _run
