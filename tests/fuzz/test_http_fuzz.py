"""The seeded HTTP fuzz run of ``make test``: over 1,000 generated requests, none may fail.

One campaign (``http_fuzz.run_campaign``) per test session, fixed seed and budget, so a
failure reproduces exactly; ``make fuzz`` runs a longer one with random seeds. The report is
printed with ``-s`` and attached to a failing assertion.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from tests.fuzz.http_fuzz import FuzzReport, run_campaign

SEED = 20261126
SCHEMA_EXAMPLES = 90  # per operation and generation mode
RAW_EXAMPLES = 250
MUTATION_EXAMPLES = 250
MINIMUM_REQUESTS = 1000


@pytest.fixture(scope="module")
def report() -> Iterator[FuzzReport]:
    # Thousands of expected warnings (failed fetches, rejected requests) would swamp the output.
    logging.disable(logging.WARNING)
    try:
        result = run_campaign(
            schema_examples=SCHEMA_EXAMPLES,
            raw_examples=RAW_EXAMPLES,
            mutation_examples=MUTATION_EXAMPLES,
            seed_value=SEED,
        )
    finally:
        logging.disable(logging.NOTSET)
    print("\n" + result.summary())
    yield result


def test_budget_is_spent(report: FuzzReport) -> None:
    assert report.requests >= MINIMUM_REQUESTS, report.summary()


def test_no_findings(report: FuzzReport) -> None:
    """Never a 5xx; documented statuses only; JSON OperationOutcome errors; valid 200s."""
    assert not report.findings, report.summary()


def test_every_operation_and_outcome_is_exercised(report: FuzzReport) -> None:
    seen = set(report.by_status)
    hook = "POST /cds-services/{service_id}"
    feedback = "POST /cds-services/{service_id}/feedback"
    expected = {
        "GET /cds-services 200",
        "GET /healthz 200",
        "GET /readyz 200",
        "GET /openapi.json 200",
        "GET /analytics 200",
        "GET /analytics 400",
        *(f"{hook} {status}" for status in (200, 400, 404, 412, 415)),
        *(f"{feedback} {status}" for status in (200, 400, 404, 415)),
        "PUT /cds-services/{service_id} 405",
    }
    assert expected <= seen, sorted(expected - seen)


def test_the_service_never_reached_for_a_server_off_its_allow_list(report: FuzzReport) -> None:
    assert report.blocked_connections == []
