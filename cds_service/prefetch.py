"""Prefetch templates: rendering their tokens and deciding, per key, what must be fetched.

Per key of the service's templates (CDS Hooks 2.0.1 §Prefetch):
* present with data  → use it;
* present as ``null`` → the client says no data exists;
* absent, or an OperationOutcome (the client's own fetch failed) → fetch from ``fhirServer``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from cds_service.fhir_client import Deadline, FhirClient, FhirFetchError, FhirTimeout

log = logging.getLogger("cds_service.prefetch")

# A token is ``{{...}}``; its content is either ``context.<root primitive field>`` or one of
# the four user identifiers. Anything else in a template is a definition error.
TOKEN = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
USER_TOKENS = {
    "userPractitionerId": "Practitioner",
    "userPractitionerRoleId": "PractitionerRole",
    "userPatientId": "Patient",
    "userRelatedPersonId": "RelatedPerson",
}
CONTEXT_TOKEN = re.compile(r"context\.([A-Za-z][A-Za-z0-9_]*)")


class UnresolvableToken(ValueError):
    """A template token has no value in this request (e.g. userPatientId for a Practitioner)."""


def template_tokens(template: str) -> list[str]:
    return TOKEN.findall(template)


def is_valid_token(token: str) -> bool:
    return token in USER_TOKENS or CONTEXT_TOKEN.fullmatch(token) is not None


def _token_value(token: str, context: Mapping[str, Any]) -> str:
    if token in USER_TOKENS:
        user_id = context.get("userId")
        if not isinstance(user_id, str) or "/" not in user_id:
            raise UnresolvableToken(f"{{{{{token}}}}} needs context.userId")
        resource_type, _, ident = user_id.partition("/")
        if resource_type != USER_TOKENS[token] or not ident:
            raise UnresolvableToken(f"{{{{{token}}}}}: context.userId is a {resource_type}")
        return quote(ident, safe="")
    match = CONTEXT_TOKEN.fullmatch(token)
    if match is None:
        raise UnresolvableToken(f"{{{{{token}}}}} is not a CDS Hooks prefetch token")
    value = context.get(match.group(1))
    # Only root-level fields with a primitive value are tokens (spec §Prefetch tokens).
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise UnresolvableToken(f"{{{{{token}}}}} has no primitive value in the context")
    # References such as userId ("Practitioner/123") keep their slash; the rest is escaped so a
    # value can never add query parameters or path segments.
    return quote(str(value), safe="/")


def render_template(template: str, context: Mapping[str, Any]) -> str:
    """Replace every token with its value from the hook context."""
    return TOKEN.sub(lambda m: _token_value(m.group(1), context), template)


@dataclass(frozen=True, slots=True)
class PrefetchPlan:
    """What the request supplied, and which template keys still have to be fetched."""

    supplied: dict[str, Any]  # key → resource, Bundle, list of Bundles, or None (no data)
    to_fetch: dict[str, str]  # key → the template (not yet rendered)
    client_errors: dict[str, str]  # key → why the client's own prefetch failed


def is_operation_outcome(value: Any) -> bool:
    return isinstance(value, dict) and value.get("resourceType") == "OperationOutcome"


def _outcome_summary(outcome: Mapping[str, Any]) -> str:
    issues = outcome.get("issue")
    if isinstance(issues, list):
        for issue in issues:
            if isinstance(issue, dict):
                text = issue.get("diagnostics") or issue.get("code")
                if isinstance(text, str) and text:
                    return text[:200]
    return "the client sent an OperationOutcome"


def plan_prefetch(templates: Mapping[str, str], prefetch: Mapping[str, Any] | None) -> PrefetchPlan:
    supplied: dict[str, Any] = {}
    to_fetch: dict[str, str] = {}
    client_errors: dict[str, str] = {}
    given = prefetch or {}
    for key, template in templates.items():
        if key not in given:
            to_fetch[key] = template
            continue
        value = given[key]
        if is_operation_outcome(value):
            client_errors[key] = _outcome_summary(value)
            to_fetch[key] = template
        else:
            supplied[key] = value
    # Keys the service never asked for are ignored: the service uses only what it requested.
    return PrefetchPlan(supplied, to_fetch, client_errors)


class PrefetchUnavailable(Exception):
    """Data the service needs is neither in the request nor obtainable: HTTP 412."""

    def __init__(self, failures: dict[str, str]) -> None:
        super().__init__(", ".join(sorted(failures)))
        self.failures = failures  # prefetch key → why it could not be obtained


def resolve_prefetch(
    plan: PrefetchPlan,
    *,
    context: Mapping[str, Any],
    fhir_server: str | None,
    access_token: str | None,
    client: FhirClient,
    deadline_seconds: float,
    max_bytes: int | None = None,
    refusal: str | None = None,
    max_workers: int = 4,
) -> dict[str, Any]:
    """Complete the plan by fetching the missing keys; raise ``PrefetchUnavailable`` if not.

    ``refusal`` explains why ``fhir_server`` may not be used (None: it may); ``max_bytes``
    caps what all the fetches of this request may read together.
    """
    data = dict(plan.supplied)
    if not plan.to_fetch:
        return data
    failures: dict[str, str] = {}
    if fhir_server is None or refusal is not None:
        why = refusal or "the request has no fhirServer to fetch it from"
        for key in plan.to_fetch:
            failures[key] = _with_client_error(plan, key, why)
        raise PrefetchUnavailable(failures)

    queries: dict[str, str] = {}
    for key, template in plan.to_fetch.items():
        try:
            queries[key] = render_template(template, context)
        except UnresolvableToken as exc:
            failures[key] = _with_client_error(plan, key, str(exc))

    deadline = Deadline(deadline_seconds, max_bytes)
    if queries:
        workers = max(1, min(max_workers, len(queries)))
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fhir-fetch")
        try:
            futures = {
                pool.submit(
                    client.fetch, fhir_server, query, access_token=access_token, deadline=deadline
                ): key
                for key, query in queries.items()
            }
            # A little grace beyond the deadline: each fetch checks the deadline itself and
            # its socket timeouts are capped by it, so a straggler is a stuck socket.
            done, pending = wait(futures, timeout=max(deadline.remaining(), 0) + 1.0)
            for future in done:
                key = futures[future]
                try:
                    data[key] = future.result()
                except FhirFetchError as exc:
                    log.warning("fall-back fetch failed: key=%s reason=%s", key, exc.detail)
                    failures[key] = _with_client_error(plan, key, exc.detail)
            for future in pending:
                future.cancel()
                failures[futures[future]] = _with_client_error(
                    plan, futures[future], FhirTimeout.reason
                )
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
    if failures:
        raise PrefetchUnavailable(failures)
    return data


def _with_client_error(plan: PrefetchPlan, key: str, why: str) -> str:
    client_error = plan.client_errors.get(key)
    if client_error:
        return f"{why} (the client's prefetch failed: {client_error})"
    return why
