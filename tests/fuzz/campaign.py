"""A long fuzz campaign: ``python -m tests.fuzz.campaign --requests 20000 [--seed N]``.

Runs the HTTP fuzzers of ``make test`` with a larger budget (half schemathesis over every
operation, a quarter raw bodies, a quarter mutated real requests, plus the method sweep) and
the mapping-layer properties with more examples, then prints the counts and every distinct
finding. Without ``--seed`` a random seed is drawn and printed, so any finding reproduces.
Exit status 1 when there are findings.
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import time
import traceback
from collections import Counter
from datetime import date
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

SCHEMA_OPERATION_MODES = 6  # three operations with inputs, positive and negative


def run_mapping_campaign(examples: int, seed_value: int) -> tuple[int, Counter[str], list[str]]:
    import fhir_mappings
    from cds_service.service_response import service_response
    from fhir_mappings.facts import PatientFacts
    from tests.fuzz.strategies import as_of_dates, patient_ids, prefetch_values
    from tests.fuzz.test_mapping_properties import engine
    from tests.openapi.contract import shared_contract
    from tests.openapi.corpus import prefetch_keys

    runs = 0
    outcomes: Counter[str] = Counter()
    findings: list[str] = []
    contract = shared_contract()
    prefetches = st.dictionaries(
        st.one_of(st.sampled_from(prefetch_keys()), st.text(max_size=10)),
        prefetch_values(),
        max_size=6,
    )

    @seed(seed_value)
    @settings(
        max_examples=examples,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(prefetch=prefetches, patient_id=patient_ids, as_of=as_of_dates)
    def one(prefetch: dict[str, Any], patient_id: str, as_of: date) -> None:
        nonlocal runs
        runs += 1
        try:
            facts = fhir_mappings.build_facts(prefetch, patient_id=patient_id, as_of=as_of)
            if not isinstance(facts, PatientFacts):
                findings.append(f"build_facts returned {type(facts).__name__}")
                return
            cards = engine().evaluate(prefetch, patient_id=patient_id, as_of=as_of)
        except Exception as exc:
            where = traceback.extract_tb(exc.__traceback__)[-1]
            findings.append(
                f"{type(exc).__name__} at {where.filename}:{where.lineno}: {str(exc)[:200]}"
            )
            return
        problems = contract.schema_errors(
            "/components/schemas/HookResponse", service_response(cards)
        )
        if problems:
            findings.append(f"invalid cards: {problems[0]}")
        outcomes[f"{len(cards)} cards"] += 1

    one()
    return runs, outcomes, findings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20_000, help="HTTP requests to generate")
    parser.add_argument("--seed", type=int, default=None, help="reproduce a campaign")
    parser.add_argument(
        "--mapping-examples",
        type=int,
        default=None,
        help="examples of the mapping-layer properties (default: requests / 10)",
    )
    args = parser.parse_args(argv)
    seed_value = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    mapping_examples = args.mapping_examples or max(100, args.requests // 10)

    from tests.fuzz.http_fuzz import run_campaign

    logging.disable(logging.WARNING)
    print(
        f"fuzz campaign: seed {seed_value}, {args.requests} HTTP requests, "
        f"{mapping_examples} mapping examples",
        flush=True,
    )
    schema_share = args.requests // 2
    report = run_campaign(
        schema_examples=max(1, schema_share // SCHEMA_OPERATION_MODES),
        raw_examples=max(1, args.requests // 4),
        mutation_examples=max(1, args.requests - schema_share - args.requests // 4),
        seed_value=seed_value,
        progress=lambda line: print(f"  {line}", flush=True),
    )
    print("\nHTTP (WSGI app, authentication off, loopback FHIR server)")
    print(report.summary())

    started = time.monotonic()
    runs, outcomes, findings = run_mapping_campaign(mapping_examples, seed_value)
    print(f"\nmapping layer and engine: {runs} prefetches in {time.monotonic() - started:.1f} s")
    print("  cards per prefetch: " + ", ".join(f"{k}: {v}" for k, v in sorted(outcomes.items())))
    distinct = sorted(set(findings))
    print(f"  findings: {len(findings)} ({len(distinct)} distinct)")
    for finding in distinct:
        print(f"  - {finding}")

    total = len(report.findings) + len(findings)
    print(
        f"\nTOTAL: {report.requests} HTTP requests + {runs} mapping runs, {total} findings "
        f"(seed {seed_value})"
    )
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
