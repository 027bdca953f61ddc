"""Parsing and validating a CDS Hooks service request body (pure: no Flask, no I/O).

Every rejection is a ``ServiceError`` (400) whose issue names the offending field, so the
HTTP handler and the ``evaluate`` command report the same, precise reasons.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson

from cds_service.errors import ServiceError
from cds_service.settings import Settings

# FHIR R4 ``id`` datatype. Checking it keeps a caller's patientId from steering the fall-back
# fetch to another path of the FHIR server (``../``, ``?``, ``#``).
FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
# patient-view ``userId``: ``[ResourceType]/[id]`` for the four user resource types.
USER_REFERENCE = re.compile(
    r"(Practitioner|PractitionerRole|Patient|RelatedPerson)/([A-Za-z0-9\-.]{1,64})"
)
MAX_HOOK_INSTANCE_LENGTH = 256
ORDER_HOOKS = frozenset({"order-select", "order-sign"})
ACCESS_TOKEN = re.compile(r"[\x21-\x7e]+")


@dataclass(frozen=True, slots=True)
class FhirAuthorization:
    access_token: str
    token_type: str
    expires_in: int
    scope: str
    subject: str
    patient: str | None

    def __repr__(self) -> str:  # the token must never reach a log line or a traceback
        return f"FhirAuthorization(token_type={self.token_type!r}, scope={self.scope!r})"


@dataclass(frozen=True, slots=True)
class HookRequest:
    hook: str
    hook_instance: str
    context: dict[str, Any]
    prefetch: dict[str, Any] | None  # None: the request carried no prefetch at all
    fhir_server: str | None
    fhir_authorization: FhirAuthorization | None

    @property
    def patient_id(self) -> str:
        return str(self.context["patientId"])

    @property
    def user_id(self) -> str:
        return str(self.context["userId"])

    @property
    def draft_orders(self) -> dict[str, Any] | None:
        """The order hooks' Bundle of draft orders (checked by the context validator)."""
        return self.context.get("draftOrders") if self.hook in ORDER_HOOKS else None

    @property
    def selections(self) -> list[str] | None:
        """order-select: the drafts just chosen, the only ones judged."""
        return self.context.get("selections") if self.hook == "order-select" else None


def _bad(message: str, field: str, code: str = "invalid") -> ServiceError:
    return ServiceError.single(400, message, code=code, expression=field)


def parse_json_body(body: bytes, settings: Settings) -> dict[str, Any]:
    """Decode the body: UTF-8 JSON, an object, nested no deeper than the configured cap."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _bad(f"The body is not UTF-8: {exc.reason} at byte {exc.start}.", "$") from None
    if not text.strip():
        raise _bad("The body is empty; a CDS Hooks request object is required.", "$", "required")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        # orjson is the fast path; whatever it refuses (malformed JSON, but also NaN, lone
        # surrogates, nesting beyond 1,024) goes through the standard library, so such a body
        # is accepted or rejected, with the same message, exactly as the standard reader does.
        data = _stdlib_loads(text, settings)
    if not isinstance(data, dict):
        raise _bad(f"The body must be a JSON object, not {_json_type(data)}.", "$", "structure")
    if json_text_depth(body, settings.max_json_depth) > settings.max_json_depth:
        raise _too_deep(settings)
    return data


def _too_deep(settings: Settings) -> ServiceError:
    return _bad(
        f"The JSON body is nested deeper than {settings.max_json_depth} levels.", "$", "too-long"
    )


def _stdlib_loads(text: str, settings: Settings) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        raise _too_deep(settings) from None
    except ValueError as exc:
        raise _bad(f"The body is not valid JSON: {exc}.", "$", "structure") from None


# JSON escapes (a backslash and the character it escapes), the bytes that are not string
# delimiters or brackets, and brackets mapped to one pair of parentheses.
_ESCAPE = re.compile(rb"\\.", re.DOTALL)
_NOT_STRUCTURE = bytes(range(256)).translate(None, b'"[]{}')
_TO_PARENS = bytes.maketrans(b"[]{}", b"()()")


def json_text_depth(body: bytes, limit: int) -> int:
    """Nesting depth of containers in ``body``, which must be valid JSON; ``limit`` + 1 when
    deeper than ``limit``.

    Computed on the bytes with C-level string operations (a walk over the parsed containers
    cost more than parsing itself): drop escapes, keep only quotes and brackets, drop what
    lies between quotes (brackets inside strings), then remove innermost "()" pairs pass by
    pass; the number of passes to empty the text is the depth. Removing two adjacent quotes
    never changes which brackets lie inside a string, so empty strings go in one replace.
    """
    if b"\\" in body:
        body = _ESCAPE.sub(b"", body)
    skeleton = body.translate(None, _NOT_STRUCTURE).replace(b'""', b"")
    if b'"' in skeleton:
        skeleton = b"".join(skeleton.split(b'"')[::2])
    skeleton = skeleton.translate(_TO_PARENS)
    for depth in range(limit + 1):
        if not skeleton:
            return depth
        skeleton = skeleton.replace(b"()", b"")
    return limit + 1


def json_depth(value: Any) -> int:
    """Nesting depth of containers of a parsed value, computed without recursion (hostile
    input is deep). Only containers go on the stack: a prefetch is mostly scalars."""
    if not isinstance(value, dict | list):
        return 0
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        node, depth = pop()
        if depth > deepest:
            deepest = depth
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, dict | list):
                push((child, depth + 1))
    return deepest


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _required_string(obj: dict[str, Any], key: str, path: str) -> str:
    if key not in obj or obj[key] is None:
        raise _bad(f"{path} is required.", path, "required")
    value = obj[key]
    if not isinstance(value, str):
        raise _bad(f"{path} must be a string, not {_json_type(value)}.", path)
    if not value.strip():
        raise _bad(f"{path} must not be empty.", path, "required")
    return value


def _optional_object(obj: dict[str, Any], key: str, path: str) -> dict[str, Any] | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _bad(f"{path} must be a JSON object, not {_json_type(value)}.", path)
    return value


def _validate_fhir_server(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _bad("fhirServer must be a non-empty string (the FHIR base URL).", "fhirServer")
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise _bad("fhirServer must be an absolute http(s) URL.", "fhirServer")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise _bad(
            "fhirServer must be a base URL without query, fragment or credentials.", "fhirServer"
        )
    return value.rstrip("/")


def _validate_authorization(raw: dict[str, Any]) -> FhirAuthorization:
    base = "fhirAuthorization"
    token = _required_string(raw, "access_token", f"{base}.access_token")
    # The token goes into an Authorization header: only visible ASCII can be sent there (a
    # non-Latin-1 character made the fall-back fetch fail with an unhandled encoding error).
    if not ACCESS_TOKEN.fullmatch(token):
        raise _bad(
            f"{base}.access_token must be visible ASCII characters only (an OAuth bearer token).",
            f"{base}.access_token",
        )
    token_type = _required_string(raw, "token_type", f"{base}.token_type")
    # OAuth 2.0 (RFC 6749 §7.1) token types are case-insensitive; CDS Hooks fixes "Bearer".
    if token_type.lower() != "bearer":
        raise _bad(f'{base}.token_type must be "Bearer".', f"{base}.token_type", "value")
    scope = _required_string(raw, "scope", f"{base}.scope")
    subject = _required_string(raw, "subject", f"{base}.subject")
    if "expires_in" not in raw or raw["expires_in"] is None:
        raise _bad(f"{base}.expires_in is required.", f"{base}.expires_in", "required")
    expires_in = raw["expires_in"]
    if isinstance(expires_in, bool) or not isinstance(expires_in, int) or expires_in < 0:
        raise _bad(
            f"{base}.expires_in must be a non-negative integer (seconds).", f"{base}.expires_in"
        )
    patient = raw.get("patient")
    if patient is not None and not isinstance(patient, str):
        raise _bad(f"{base}.patient must be a string.", f"{base}.patient")
    return FhirAuthorization(token, "Bearer", expires_in, scope, subject, patient or None)


def _validate_patient_view_context(context: dict[str, Any], settings: Settings) -> None:
    patient_id = _required_string(context, "patientId", "context.patientId")
    if not FHIR_ID.fullmatch(patient_id):
        raise _bad(
            "context.patientId must be a FHIR id (letters, digits, '-', '.'; at most 64).",
            "context.patientId",
        )
    user_id = _required_string(context, "userId", "context.userId")
    if not USER_REFERENCE.fullmatch(user_id):
        raise _bad(
            "context.userId must be a reference like Practitioner/123 (Practitioner, "
            "PractitionerRole, Patient or RelatedPerson).",
            "context.userId",
        )
    encounter = context.get("encounterId")
    if encounter is not None and (
        not isinstance(encounter, str) or not FHIR_ID.fullmatch(encounter)
    ):
        raise _bad("context.encounterId must be a FHIR id.", "context.encounterId")


# Request resources an R4 ordering session can hold (CDS Hooks library, order-select and
# order-sign: "A Bundle of FHIR request resources with a draft status").
REQUEST_RESOURCE_TYPES = frozenset(
    {
        "MedicationRequest",
        "ServiceRequest",
        "NutritionOrder",
        "DeviceRequest",
        "VisionPrescription",
        "CommunicationRequest",
        "SupplyRequest",
        "ImmunizationRecommendation",
    }
)
ORDER_REFERENCE = re.compile(r"([A-Z][A-Za-z]{1,63})/([A-Za-z0-9\-.]{1,64})")
PATIENT_REFERENCE = re.compile(r"(?:.*/)?Patient/([A-Za-z0-9\-.]{1,64})")


def _validate_draft_orders(context: dict[str, Any], *, drafts_only: bool, limit: int) -> set[str]:
    """``context.draftOrders``: a Bundle of request resources of this patient, each with a
    ``Type/id`` of its own; returns those references. In order-select every entry is a draft;
    order-sign may also carry orders being re-signed after revision (order-sign 1.1.0)."""
    field = "context.draftOrders"
    if context.get("draftOrders") is None:
        raise _bad(f"{field} is required (a Bundle of the draft orders).", field, "required")
    bundle = context["draftOrders"]
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        kind = _json_type(bundle) if not isinstance(bundle, dict) else "another resource"
        raise _bad(f"{field} must be a FHIR Bundle, not {kind}.", field)
    entries = bundle.get("entry", [])
    if not isinstance(entries, list):
        raise _bad(f"{field}.entry must be an array.", f"{field}.entry")
    if len(entries) > limit:
        raise _bad(f"{field} holds {len(entries)} orders; at most {limit}.", field, "too-costly")
    patient_id = context["patientId"]
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        path = f"{field}.entry[{index}].resource"
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            raise _bad(f"{path} is required: each entry holds one order.", path, "required")
        rtype = resource.get("resourceType")
        if not isinstance(rtype, str) or rtype not in REQUEST_RESOURCE_TYPES:
            raise _bad(
                f"{path}.resourceType must be a request resource (MedicationRequest, "
                f"ServiceRequest, ...), not {str(rtype)[:64]!r}.",
                f"{path}.resourceType",
            )
        rid = resource.get("id")
        if not isinstance(rid, str) or not FHIR_ID.fullmatch(rid):
            raise _bad(
                f"{path}.id must be a FHIR id: selections and suggestions name a draft by it.",
                f"{path}.id",
            )
        status = resource.get("status")
        if not isinstance(status, str) or not status:
            raise _bad(f"{path}.status is required.", f"{path}.status", "required")
        if drafts_only and status != "draft":
            raise _bad(f'{path}.status must be "draft" (got {status[:32]!r}).', f"{path}.status")
        reference = f"{rtype}/{rid}"
        if reference in seen:
            raise _bad(f"{field} holds {reference} twice.", f"{path}.id", "duplicate")
        seen.add(reference)
        for subject_field in ("subject", "patient"):
            subject = resource.get(subject_field)
            target = subject.get("reference") if isinstance(subject, dict) else None
            match = PATIENT_REFERENCE.fullmatch(target) if isinstance(target, str) else None
            if match and match.group(1) != patient_id:
                raise _bad(
                    f"{path}.{subject_field} names another patient than context.patientId.",
                    f"{path}.{subject_field}",
                )
    return seen


def _validate_selections(context: dict[str, Any], drafts: set[str]) -> None:
    field = "context.selections"
    selections = context.get("selections")
    if selections is None:
        raise _bad(f"{field} is required (the ids of the orders just selected).", field, "required")
    if not isinstance(selections, list) or not selections:
        raise _bad(f"{field} must be a non-empty array of order ids.", field)
    for index, selection in enumerate(selections):
        path = f"{field}[{index}]"
        if not isinstance(selection, str) or not ORDER_REFERENCE.fullmatch(selection):
            raise _bad(f"{path} must be an order id like MedicationRequest/123.", path)
        if selection not in drafts:
            raise _bad(f"{path} ({selection}) names no entry of context.draftOrders.", path)


def _validate_order_select_context(context: dict[str, Any], settings: Settings) -> None:
    _validate_patient_view_context(context, settings)
    drafts = _validate_draft_orders(context, drafts_only=True, limit=settings.max_prefetch_entries)
    _validate_selections(context, drafts)


def _validate_order_sign_context(context: dict[str, Any], settings: Settings) -> None:
    _validate_patient_view_context(context, settings)
    _validate_draft_orders(context, drafts_only=False, limit=settings.max_prefetch_entries)


CONTEXT_VALIDATORS = {
    "patient-view": _validate_patient_view_context,
    "order-select": _validate_order_select_context,
    "order-sign": _validate_order_sign_context,
}


def validate_hook_request(data: dict[str, Any], settings: Settings) -> HookRequest:
    """Check the request's top-level fields and its hook context; return the typed request."""
    hook = _required_string(data, "hook", "hook")
    hook_instance = _required_string(data, "hookInstance", "hookInstance")
    if len(hook_instance) > MAX_HOOK_INSTANCE_LENGTH:
        raise _bad(
            f"hookInstance is longer than {MAX_HOOK_INSTANCE_LENGTH} characters.", "hookInstance"
        )
    if data.get("context") is None:
        raise _bad("context is required.", "context", "required")
    context = _optional_object(data, "context", "context")
    assert context is not None
    validator = CONTEXT_VALIDATORS.get(hook)
    if validator is not None:
        validator(context, settings)

    fhir_server = None
    if data.get("fhirServer") is not None:
        fhir_server = _validate_fhir_server(data["fhirServer"])
    authorization = None
    raw_auth = _optional_object(data, "fhirAuthorization", "fhirAuthorization")
    if raw_auth is not None:
        if fhir_server is None:
            raise _bad(
                "fhirServer is required when fhirAuthorization is given.", "fhirServer", "required"
            )
        authorization = _validate_authorization(raw_auth)

    _optional_object(data, "extension", "extension")
    prefetch = _optional_object(data, "prefetch", "prefetch")
    if prefetch is not None:
        _check_prefetch_shape(prefetch, settings)
    return HookRequest(hook, hook_instance, context, prefetch, fhir_server, authorization)


def _check_prefetch_shape(prefetch: dict[str, Any], settings: Settings) -> None:
    if len(prefetch) > settings.max_prefetch_keys:
        raise _bad(
            f"prefetch has {len(prefetch)} keys; the limit is {settings.max_prefetch_keys}.",
            "prefetch",
            "too-costly",
        )
    total = 0
    for key, value in prefetch.items():
        if value is None:
            continue
        if isinstance(value, list):
            # A paged result: a list of Bundles.
            pages = value
        elif isinstance(value, dict):
            pages = [value]
        else:
            raise _bad(
                f"prefetch.{key} must be a FHIR resource, a Bundle or null, "
                f"not {_json_type(value)}.",
                f"prefetch.{key}",
            )
        for page in pages:
            if not isinstance(page, dict) or not isinstance(page.get("resourceType"), str):
                raise _bad(
                    f"prefetch.{key} must be a FHIR resource with a resourceType.",
                    f"prefetch.{key}",
                )
            entries = page.get("entry") if page["resourceType"] == "Bundle" else None
            if entries is not None and not isinstance(entries, list):
                raise _bad(f"prefetch.{key}.entry must be an array.", f"prefetch.{key}.entry")
            total += len(entries) if entries else 1
    if total > settings.max_prefetch_entries:
        raise _bad(
            f"prefetch holds {total} resources; at most {settings.max_prefetch_entries} "
            "are accepted.",
            "prefetch",
            "too-costly",
        )
