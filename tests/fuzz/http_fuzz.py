"""Fuzzing the HTTP interface of the WSGI app, with a request budget and a seed.

Four generators, all checked with the same properties (``HttpFuzzer.check``):

* ``schema``: schemathesis, from ``/openapi.json``, every operation, valid (positive) and
  schema-violating (negative) requests. Some valid hook calls are pointed at a healthy local
  FHIR server with their prefetch removed, so the fall-back fetch runs on generated contexts.
* ``raw``: bodies that are not what the schema describes at all: random bytes, any JSON,
  malformed JSON, deep nesting, huge numbers, odd encodings and Content-Types.
* ``mutation``: real, valid hook and feedback requests with one member replaced by arbitrary
  JSON or removed: requests that are wrong in exactly one place.
* ``methods``: every path with the methods it does not support.

Properties: never a 5xx; every status is documented for the operation (405 for the others);
every error body is a JSON OperationOutcome; every 200 validates against the OpenAPI schema.
Outbound connections are allowed to loopback only (``netguard``).
"""

from __future__ import annotations

import copy
import json
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from cds_service.app import create_app
from tests.conftest import build_settings
from tests.faults.fault_server import FaultyFhirServer
from tests.fuzz.netguard import loopback_only
from tests.fuzz.strategies import json_values, member_paths
from tests.openapi.contract import Contract, shared_contract
from tests.openapi.corpus import (
    ORDER_SERVICES,
    SERVICE_URL,
    fixture_files,
    hook_request_for,
    minimal_hook_request,
    order_request_for,
)

FEEDBACK_URL = f"{SERVICE_URL}/feedback"
OPERATIONS_WITHOUT_INPUT = 1  # GET /healthz etc. have exactly one possible request


@dataclass(frozen=True, slots=True)
class Finding:
    generator: str
    request: str
    problems: tuple[str, ...]

    def key(self) -> str:
        return f"{self.generator}: {self.problems[0][:160]}"


@dataclass
class FuzzReport:
    requests: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    by_generator: Counter[str] = field(default_factory=Counter)
    findings: list[Finding] = field(default_factory=list)
    blocked_connections: list[str] = field(default_factory=list)
    seconds: float = 0.0
    cpu_seconds: float = 0.0

    def distinct_findings(self) -> dict[str, Finding]:
        distinct: dict[str, Finding] = {}
        for finding in self.findings:
            distinct.setdefault(finding.key(), finding)
        return distinct

    def summary(self) -> str:
        lines = [
            f"requests: {self.requests} in {self.seconds:.1f} s wall, {self.cpu_seconds:.1f} s CPU",
            "by generator: " + ", ".join(f"{k} {v}" for k, v in sorted(self.by_generator.items())),
            "by operation and status:",
            *(f"  {key}: {count}" for key, count in sorted(self.by_status.items())),
            f"outbound connections blocked (non-loopback): {len(self.blocked_connections)}",
            f"findings: {len(self.findings)} ({len(self.distinct_findings())} distinct)",
        ]
        for finding in self.distinct_findings().values():
            lines.append(f"  - {finding.key()}")
            lines.append(f"    request: {finding.request[:400]}")
        return "\n".join(lines)


def _fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: bounded time, raw findings
        suppress_health_check=list(HealthCheck),
    )


class HttpFuzzer:
    def __init__(self, app: Flask, fhir_base: str, contract: Contract | None = None) -> None:
        self.app = app
        self.client = app.test_client()
        self.fhir_base = fhir_base
        self.contract = contract or shared_contract()
        self.report = FuzzReport()

    # -- properties -----------------------------------------------------------------------

    def check(
        self,
        generator: str,
        method: str,
        path: str,
        status: int,
        content_type: str | None,
        raw_body: bytes,
        headers: Any,
        request: str,
    ) -> None:
        template = self.contract.template_for(path) or path
        self.report.requests += 1
        self.report.by_generator[generator] += 1
        self.report.by_status[f"{method.upper()} {template} {status}"] += 1
        problems: list[str] = []
        if status >= 500:
            problems.append(f"{method.upper()} {path} -> {status}: server error")
        body: Any = None
        media_type = (content_type or "").split(";", 1)[0].strip()
        # A page or a download the contract documents (the dashboard's HTML, CSV) is not JSON.
        documented_other = media_type != "application/json" and (
            media_type in self.contract.documented_media_types(method, path, status)
        )
        if raw_body and not documented_other:
            try:
                body = json.loads(raw_body)
            except ValueError:
                problems.append(f"{method.upper()} {path} -> {status}: body is not JSON")
        if status >= 400 and not raw_body:
            problems.append(f"{method.upper()} {path} -> {status}: error without a body")
        if status == 405 and not headers.get("Allow"):
            problems.append(f"{method.upper()} {path} -> 405 without an Allow header")
        if not problems:
            problems.extend(self.contract.check_response(method, path, status, body, content_type))
        if problems:
            self.report.findings.append(Finding(generator, request, tuple(problems)))

    def send(
        self,
        generator: str,
        method: str,
        path: str,
        *,
        data: bytes | None = None,
        content_type: str | None = None,
    ) -> None:
        response = self.client.open(path, method=method, data=data, content_type=content_type)
        shown = (data or b"")[:300].decode("utf-8", "replace")
        self.check(
            generator,
            method,
            path,
            response.status_code,
            response.content_type,
            response.get_data(),
            response.headers,
            f"{method} {path} [{content_type}] {shown}",
        )

    # -- generators -----------------------------------------------------------------------

    def run_schema(self, examples: int, seed_value: int) -> None:
        schema = schemathesis.openapi.from_wsgi("/openapi.json", self.app)
        for result in schema.get_all_operations():
            operation = result.ok()
            has_input = bool(operation.body) or any(True for _ in operation.iter_parameters())
            modes = [GenerationMode.POSITIVE]
            if has_input:
                modes.append(GenerationMode.NEGATIVE)
            for mode in modes:
                count = examples if has_input else OPERATIONS_WITHOUT_INPUT
                self._run_operation(operation, mode, count, seed_value)

    def _run_operation(
        self, operation: Any, mode: GenerationMode, count: int, seed_value: int
    ) -> None:
        redirect = st.sampled_from(["as generated", "as generated", "local", "local, no prefetch"])
        is_hook = operation.path == "/cds-services/{service_id}"

        @seed(seed_value)
        @_fuzz_settings(count)
        @given(case=operation.as_strategy(generation_mode=mode), where=redirect)
        def one(case: Any, where: str) -> None:
            if is_hook and mode is GenerationMode.POSITIVE and isinstance(case.body, dict):
                if where != "as generated":
                    case.body["fhirServer"] = self.fhir_base
                if where == "local, no prefetch":
                    case.body.pop("prefetch", None)
            response = case.call(session=self.client)
            headers = {
                k.lower(): v[0] if isinstance(v, list) else v for k, v in response.headers.items()
            }
            self.check(
                f"schema-{mode.value}",
                case.method,
                case.formatted_path,
                response.status_code,
                headers.get("content-type"),
                response.content,
                {"Allow": headers.get("allow")},
                f"{case.method} {case.formatted_path} {json.dumps(case.body, default=str)[:300]}",
            )

        one()

    def run_raw(self, examples: int, seed_value: int) -> None:
        targets = st.sampled_from(
            [SERVICE_URL, SERVICE_URL, FEEDBACK_URL, "/cds-services/unknown", "/cds-services/%00"]
        )
        content_types = st.sampled_from(
            [
                "application/json",
                "application/json",
                "application/json; charset=utf-8",
                "application/json; charset=latin-1",
                "application/fhir+json",
                "text/plain",
                "multipart/form-data; boundary=x",
                "application/x-www-form-urlencoded",
                None,
            ]
        )
        nests = st.integers(min_value=60, max_value=100_000)
        bodies = st.one_of(
            st.binary(max_size=512),
            json_values.map(lambda v: json.dumps(v).encode("utf-8", "surrogatepass")),
            st.builds(lambda n: b"[" * n + b"]" * n, nests),
            st.builds(lambda n: b'{"a":' * n + b"1" + b"}" * n, nests),
            st.builds(lambda n: b"[" * n, nests),  # never closed
            st.sampled_from(
                [
                    b"",
                    b"null",
                    b"[]",
                    b'"patient-view"',
                    b"1" * 5000,  # more digits than Python converts by default
                    b'{"hook": 1e999999}',
                    b'{"hook": NaN}',
                    b"\xef\xbb\xbf{}",  # UTF-8 byte-order mark
                    '{"hook":"patient-view"}'.encode("utf-16"),
                    b'{"hook":"patient-view","hook":"order-sign"}',
                    b'{"context": {"patientId": "\\ud800", "userId": "Practitioner/1"}}',
                    b'{"feedback": [{"card": "x", "outcome": "accepted"}]',
                ]
            ),
        )

        @seed(seed_value)
        @_fuzz_settings(examples)
        @given(path=targets, body=bodies, content_type=content_types)
        def one(path: str, body: bytes, content_type: str | None) -> None:
            self.send("raw", "POST", path, data=body, content_type=content_type)

        one()

    def run_mutations(self, examples: int, seed_value: int) -> None:
        valid_requests = [minimal_hook_request()] + [
            hook_request_for(p) for p in fixture_files()[:8]
        ]
        feedback = {
            "feedback": [
                {
                    "card": "4fa3b1e6-0d61-4f8a-9c0e-6b3f7b1f0a11",
                    "outcome": "accepted",
                    "acceptedSuggestions": [{"id": "0c8e7a3e-2f5b-4d3c-8a38-1c2d3e4f5a6b"}],
                    "outcomeTimestamp": "2026-01-31T10:05:31Z",
                },
                {
                    "card": "9b2f0c1d-1111-4c3b-9d7e-2a1b3c4d5e6f",
                    "outcome": "overridden",
                    "overrideReason": {
                        "reason": {
                            "system": "http://example.org/reasons",
                            "code": "patient-refused",
                            "display": "Patient refused",
                        },
                        "userComment": "next visit",
                    },
                    "outcomeTimestamp": "2026-01-31T10:05:31+02:00",
                },
            ]
        }
        documents = [(SERVICE_URL, r) for r in valid_requests] + [(FEEDBACK_URL, feedback)]
        documents += [
            (f"/cds-services/{service_id}", order_request_for(p, hook))
            for hook, service_id in ORDER_SERVICES.items()
            for p in fixture_files()[:2]
        ]

        @st.composite
        def mutated(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
            path, original = draw(st.sampled_from(documents))
            document = copy.deepcopy(original)
            paths = [p for p in member_paths(document) if len(p) <= 6]
            target = draw(st.sampled_from(paths))
            container: Any = document
            for part in target[:-1]:
                container = container[part]
            if draw(st.integers(0, 3)) == 0 and isinstance(container, dict):
                del container[target[-1]]
            else:
                container[target[-1]] = draw(json_values)
            return path, document

        @seed(seed_value)
        @_fuzz_settings(examples)
        @given(case=mutated())
        def one(case: tuple[str, dict[str, Any]]) -> None:
            path, document = case
            body = json.dumps(document).encode("utf-8", "surrogatepass")
            self.send("mutation", "POST", path, data=body, content_type="application/json")

        one()

    def run_methods(self) -> None:
        # schemathesis leaves out the operation serving the schema itself.
        self.send("methods", "GET", "/openapi.json")
        concrete = {
            "/cds-services": "/cds-services",
            "/cds-services/{service_id}": SERVICE_URL,
            "/cds-services/{service_id}/feedback": FEEDBACK_URL,
        }
        for template, item in self.contract.document["paths"].items():
            path = concrete.get(template, template)
            for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
                if method.lower() not in item:
                    self.send("methods", method, path, data=b"{}", content_type="application/json")


@contextmanager
def fuzz_target(tmp: Path | None = None) -> Iterator[tuple[Flask, FaultyFhirServer]]:
    """The app as deployed for a loopback test: authentication off, its own data directory,
    a healthy local FHIR server as the only allowed fhirServer."""
    with tempfile.TemporaryDirectory(dir=tmp) as folder, FaultyFhirServer(read_timeout=0.5) as fhir:
        app = create_app(
            build_settings(
                Path(folder),
                fhir_servers=(fhir.url("healthy"),),
                fetch_deadline_seconds=2.0,
                fhir_read_timeout=0.5,
            )
        )
        try:
            yield app, fhir
        finally:
            app.extensions["fhir_client"].close()
            store = app.extensions.get("store")
            if store is not None and callable(getattr(store, "close", None)):
                store.close()


def run_campaign(
    *,
    schema_examples: int,
    raw_examples: int,
    mutation_examples: int,
    seed_value: int,
    progress: Callable[[str], None] | None = None,
) -> FuzzReport:
    started, cpu_started = time.monotonic(), time.process_time()
    with fuzz_target() as (app, fhir), loopback_only() as blocked:
        fuzzer = HttpFuzzer(app, fhir.url("healthy"))
        steps: list[tuple[str, Callable[[], None]]] = [
            ("schema", lambda: fuzzer.run_schema(schema_examples, seed_value)),
            ("raw", lambda: fuzzer.run_raw(raw_examples, seed_value)),
            ("mutation", lambda: fuzzer.run_mutations(mutation_examples, seed_value)),
            ("methods", fuzzer.run_methods),
        ]
        for name, step in steps:
            step_started = time.monotonic()
            step()
            if progress is not None:
                progress(
                    f"{name}: done in {time.monotonic() - step_started:.1f} s, "
                    f"{fuzzer.report.requests} requests so far"
                )
        fuzzer.report.blocked_connections = list(blocked)
    fuzzer.report.seconds = time.monotonic() - started
    fuzzer.report.cpu_seconds = time.process_time() - cpu_started
    return fuzzer.report
