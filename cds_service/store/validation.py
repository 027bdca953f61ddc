"""Validation of CDS Hooks 2.0.1 feedback documents (``{"feedback": [Feedback, ...]}``).

Pure functions over parsed JSON: every problem of a batch is collected with the JSON path of
the field at fault, so that a client sees all of its mistakes in one 400 response.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

OUTCOMES = ("accepted", "overridden")
MAX_FEEDBACK_ITEMS = 1000
MAX_ID_LENGTH = 128
MAX_TEXT_LENGTH = 4000
MAX_CODING_LENGTH = 1024
MAX_ACCEPTED_SUGGESTIONS = 100

# RFC 3339 section 5.6 date-time: full-date "T" full-time, with a mandatory offset.
_RFC3339 = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})[Tt](?P<time>\d{2}:\d{2}:\d{2})(?P<fraction>\.\d{1,9})?"
    r"(?P<offset>[Zz]|[+-]\d{2}:\d{2})$"
)
RFC3339_HINT = "must be an RFC 3339 date-time in UTC, e.g. 2026-01-31T10:05:31Z"
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
# Free text keeps tabs and line breaks; NUL and the other C0 controls cannot be stored in
# PostgreSQL text (NUL) or are never meant as text.
_FORBIDDEN_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# JSON "\ud800" escapes decode to lone surrogates, which no database can encode as UTF-8.
_SURROGATES = re.compile(r"[\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    message: str
    index: int | None = None

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"field": self.field, "message": self.message}
        if self.index is not None:
            body["index"] = self.index
        return body


class FeedbackValidationError(ValueError):
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors


class FeedbackBatchTooLarge(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class OverrideReason:
    system: str | None = None
    code: str | None = None
    display: str | None = None
    user_comment: str | None = None


@dataclass(frozen=True, slots=True)
class FeedbackItem:
    card: str
    outcome: str
    outcome_timestamp: datetime  # always UTC
    accepted_suggestions: tuple[str, ...] = ()
    override_reason: OverrideReason | None = None

    def natural_key(self, service_id: str) -> str:
        """A digest of everything the item says, so a re-sent item maps to the stored row."""
        reason = self.override_reason
        canonical = {
            "service": service_id,
            "card": self.card,
            "outcome": self.outcome,
            "outcomeTimestamp": self.outcome_timestamp.isoformat(timespec="microseconds"),
            "acceptedSuggestions": sorted(self.accepted_suggestions),
            "overrideReason": None
            if reason is None
            else [reason.system, reason.code, reason.display, reason.user_comment],
        }
        encoded = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def parse_rfc3339(value: str) -> datetime:
    """An RFC 3339 date-time as an aware UTC datetime; ValueError if it is not one."""
    match = _RFC3339.match(value)
    if match is None:
        raise ValueError(RFC3339_HINT)
    fraction = (match["fraction"] or ".0")[1:7].ljust(6, "0")
    offset = "+00:00" if match["offset"] in {"Z", "z"} else match["offset"]
    try:
        parsed = datetime.fromisoformat(f"{match['date']}T{match['time']}.{fraction}{offset}")
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # impossible dates; or year 1/9999 pushed out of range
        raise ValueError(RFC3339_HINT) from None


def validate_feedback_document(document: Any) -> list[FeedbackItem]:
    """The items of a feedback document, or FeedbackValidationError naming every bad field."""
    if not isinstance(document, Mapping):
        raise FeedbackValidationError(
            [FieldError("$", "the body must be a JSON object with a 'feedback' array")]
        )
    items = document.get("feedback")
    if "feedback" not in document:
        raise FeedbackValidationError([FieldError("feedback", "is required")])
    if not isinstance(items, list):
        raise FeedbackValidationError([FieldError("feedback", "must be an array")])
    if not items:
        raise FeedbackValidationError([FieldError("feedback", "must not be empty")])
    if len(items) > MAX_FEEDBACK_ITEMS:
        raise FeedbackBatchTooLarge(
            f"at most {MAX_FEEDBACK_ITEMS} feedback items per request, got {len(items)}"
        )
    errors: list[FieldError] = []
    parsed: list[FeedbackItem] = []
    for index, item in enumerate(items):
        result = _validate_item(item, index, errors)
        if result is not None:
            parsed.append(result)
    if errors:
        raise FeedbackValidationError(errors)
    return parsed


def _validate_item(item: Any, index: int, errors: list[FieldError]) -> FeedbackItem | None:
    prefix = f"feedback[{index}]"

    def fail(name: str, message: str) -> None:
        errors.append(FieldError(f"{prefix}.{name}" if name else prefix, message, index))

    if not isinstance(item, Mapping):
        fail("", "must be a Feedback object")
        return None
    before = len(errors)

    card = _identifier(item, "card", "card", fail)

    outcome = item.get("outcome")
    if "outcome" not in item:
        fail("outcome", "is required")
    elif outcome not in OUTCOMES:
        fail("outcome", "must be 'accepted' or 'overridden'")

    timestamp: datetime | None = None
    raw_timestamp = item.get("outcomeTimestamp")
    if "outcomeTimestamp" not in item:
        fail("outcomeTimestamp", "is required")
    elif not isinstance(raw_timestamp, str):
        fail("outcomeTimestamp", "must be a string (RFC 3339 date-time in UTC)")
    else:
        try:
            timestamp = parse_rfc3339(raw_timestamp)
        except ValueError as exc:
            fail("outcomeTimestamp", str(exc))

    suggestions = _accepted_suggestions(item, outcome, fail)
    reason = _override_reason(item, outcome, fail)

    if len(errors) > before:
        return None
    assert card is not None and timestamp is not None and isinstance(outcome, str)
    return FeedbackItem(
        card=card,
        outcome=outcome,
        outcome_timestamp=timestamp,
        accepted_suggestions=suggestions,
        override_reason=reason,
    )


def _identifier(container: Mapping[str, Any], key: str, name: str, fail: Any) -> str | None:
    if key not in container:
        fail(name, "is required")
        return None
    value = container[key]
    if not isinstance(value, str):
        fail(name, "must be a string")
        return None
    if not value.strip():
        fail(name, "must not be empty")
        return None
    if len(value) > MAX_ID_LENGTH:
        fail(name, f"must be at most {MAX_ID_LENGTH} characters")
        return None
    if _CONTROL_CHARACTERS.search(value) or _SURROGATES.search(value):
        fail(name, "must not contain control characters or unpaired surrogates")
        return None
    return value


def _accepted_suggestions(item: Mapping[str, Any], outcome: Any, fail: Any) -> tuple[str, ...]:
    name = "acceptedSuggestions"
    if name not in item:
        if outcome == "accepted":
            fail(name, "is required when outcome is 'accepted'")
        return ()
    value = item[name]
    if outcome == "overridden":
        fail(name, "is only allowed when outcome is 'accepted'")
        return ()
    if not isinstance(value, list):
        fail(name, 'must be an array of {"id": <suggestion uuid>} objects')
        return ()
    if not value:
        fail(name, "must not be empty")
        return ()
    if len(value) > MAX_ACCEPTED_SUGGESTIONS:
        fail(name, f"must hold at most {MAX_ACCEPTED_SUGGESTIONS} suggestions")
        return ()
    ids: list[str] = []
    for position, suggestion in enumerate(value):
        path = f"{name}[{position}]"
        if not isinstance(suggestion, Mapping):
            fail(path, "must be an object with an 'id'")
            continue
        ident = _identifier(suggestion, "id", f"{path}.id", fail)
        if ident is not None and ident not in ids:
            ids.append(ident)
    return tuple(ids)


def _override_reason(item: Mapping[str, Any], outcome: Any, fail: Any) -> OverrideReason | None:
    name = "overrideReason"
    if name not in item:
        return None
    value = item[name]
    if outcome == "accepted":
        fail(name, "is only allowed when outcome is 'overridden'")
        return None
    if not isinstance(value, Mapping):
        fail(name, "must be an object with 'reason' (Coding) and/or 'userComment'")
        return None
    if "reason" not in value and "userComment" not in value:
        fail(name, "must hold a 'reason', a 'userComment', or both")
        return None
    system = code = display = comment = None
    if "reason" in value:
        reason = value["reason"]
        if not isinstance(reason, Mapping):
            fail(f"{name}.reason", "must be a Coding object with 'system' and 'code'")
        else:
            system = _text(reason, "system", f"{name}.reason.system", fail, MAX_CODING_LENGTH)
            code = _text(reason, "code", f"{name}.reason.code", fail, MAX_CODING_LENGTH)
            if "system" not in reason:
                fail(f"{name}.reason.system", "is required")
            if "code" not in reason:
                fail(f"{name}.reason.code", "is required")
            if "display" in reason:
                display = _text(
                    reason, "display", f"{name}.reason.display", fail, MAX_CODING_LENGTH
                )
    if "userComment" in value:
        comment = _text(value, "userComment", f"{name}.userComment", fail, MAX_TEXT_LENGTH)
    return OverrideReason(system=system, code=code, display=display, user_comment=comment)


def _text(container: Mapping[str, Any], key: str, path: str, fail: Any, limit: int) -> str | None:
    if key not in container:
        return None
    value = container[key]
    if not isinstance(value, str):
        fail(path, "must be a string")
        return None
    if not value.strip():
        fail(path, "must not be empty")
        return None
    if len(value) > limit:
        fail(path, f"must be at most {limit} characters")
        return None
    if _FORBIDDEN_IN_TEXT.search(value) or _SURROGATES.search(value):
        fail(path, "must not contain control characters or unpaired surrogates")
        return None
    return value
