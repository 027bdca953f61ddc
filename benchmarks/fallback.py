"""Latency of a patient-view request with no prefetch: the service fetches every prefetch
query from the real test FHIR server (Medplum's FHIR engine, in memory) over loopback HTTP,
following its paging (50 resources a page), then evaluates."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from flask import Flask

from benchmarks.inprocess import HOOK_PATH, time_calls
from benchmarks.stats import Summary, summarize
from benchmarks.workloads import hook_request


@dataclass(frozen=True)
class FallbackResult:
    name: str
    patient_id: str
    latency: Summary
    cards: int

    def to_json(self) -> dict[str, Any]:
        return {
            "workload": self.name,
            "patient_id": self.patient_id,
            "cards": self.cards,
            "latency": self.latency.to_json(),
        }


def measure_fallback(
    app: Flask, name: str, patient_id: str, fhir_base_url: str, *, budget_s: float
) -> FallbackResult:
    client = app.test_client()
    body = json.dumps(hook_request(patient_id, None, fhir_server=fhir_base_url)).encode()

    def call() -> dict[str, Any]:
        response = client.post(HOOK_PATH, data=body, content_type="application/json")
        if response.status_code != 200:
            raise RuntimeError(f"fall-back fetch: HTTP {response.status_code}: {response.text}")
        return response.get_json()

    cards = len(call()["cards"])
    samples = time_calls(call, budget_s=budget_s, min_runs=10)
    return FallbackResult(name, patient_id, summarize(samples), cards)
