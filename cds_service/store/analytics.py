"""Card analytics: per rule, cards issued and what clinicians did with them."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Engine, and_, func, select, true

from cds_service.store.models import (
    feedback,
    feedback_suggestions,
    issued_cards,
    issued_suggestions,
)
from cds_service.store.validation import parse_rfc3339

UNKNOWN_CARD_RULE = "(unknown card)"
NO_REASON = "(no reason given)"


class BadPeriod(ValueError):
    def __init__(self, message: str, parameter: str) -> None:
        super().__init__(message)
        self.parameter = parameter


@dataclass(frozen=True, slots=True)
class Period:
    """A half-open interval [since, until) of UTC instants; either end may be open."""

    since: datetime | None = None
    until: datetime | None = None

    def as_json(self) -> dict[str, str | None]:
        return {
            "since": self.since.isoformat().replace("+00:00", "Z") if self.since else None,
            "until": self.until.isoformat().replace("+00:00", "Z") if self.until else None,
        }


def parse_period(since: str | None, until: str | None) -> Period:
    """``since``/``until`` as dates (YYYY-MM-DD, ``until`` inclusive) or RFC 3339 instants."""
    start = _parse_bound(since, "since", end=False)
    stop = _parse_bound(until, "until", end=True)
    if start is not None and stop is not None and start >= stop:
        raise BadPeriod("'since' must be before 'until'", "since")
    return Period(start, stop)


def _parse_bound(value: str | None, name: str, *, end: bool) -> datetime | None:
    if value is None or value == "":
        return None
    value = value.strip()
    try:
        day = date.fromisoformat(value) if len(value) == 10 else None
    except ValueError:
        day = None
    if day is not None:
        if end:
            day += timedelta(days=1)  # a date-only 'until' includes that whole day
        return datetime.combine(day, time.min, tzinfo=UTC)
    try:
        return parse_rfc3339(value)
    except ValueError as exc:
        raise BadPeriod(
            f"'{name}' must be a date (YYYY-MM-DD) or an RFC 3339 date-time, got {value!r}",
            name,
        ) from exc


@dataclass(slots=True)
class RuleStats:
    rule: str
    issued: int = 0  # computed and logged: shown + silent + suppressed
    shown: int = 0  # returned to the EHR
    silent: int = 0  # computed for a rule silent for the caller, returned to nobody
    suppressed: int = 0  # held back by a snooze after an override
    accepted: int = 0
    overridden: int = 0
    override_reasons: dict[tuple[str | None, str | None, str | None], int] = field(
        default_factory=dict
    )

    @property
    def feedback(self) -> int:
        return self.accepted + self.overridden

    @property
    def acceptance_rate(self) -> float | None:
        return round(self.accepted / self.feedback, 4) if self.feedback else None

    def reasons_json(self) -> list[dict[str, Any]]:
        out = []
        for (system, code, display), count in sorted(
            self.override_reasons.items(), key=lambda kv: (-kv[1], str(kv[0]))
        ):
            entry: dict[str, Any] = {"count": count}
            if code is None:
                entry["reason"] = NO_REASON
            else:
                entry["system"] = system
                entry["code"] = code
                if display:
                    entry["display"] = display
            out.append(entry)
        return out

    def as_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "issued": self.issued,
            "shown": self.shown,
            "silent": self.silent,
            "suppressed": self.suppressed,
            "feedback": self.feedback,
            "accepted": self.accepted,
            "overridden": self.overridden,
            "acceptanceRate": self.acceptance_rate,
            "overrideReasons": self.reasons_json(),
        }


TIMELINE_COUNTS = ("shown", "silent", "suppressed", "accepted", "overridden")


@dataclass(slots=True)
class Report:
    period: Period
    rules: list[RuleStats]
    suggestions_accepted: dict[str, int]
    unknown_card_feedback: int
    # (UTC day, rule) -> counts of TIMELINE_COUNTS: cards by the day they were issued,
    # feedback by its outcomeTimestamp.
    timeline: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)

    def timeline_json(self) -> list[dict[str, Any]]:
        return [
            {"date": day, "rule": rule, **counts}
            for (day, rule), counts in sorted(
                self.timeline.items(), key=lambda kv: (kv[0][0], _rule_sort_key(kv[0][1]))
            )
        ]

    def as_json(self) -> dict[str, Any]:
        return {
            "period": self.period.as_json(),
            "rules": [rule.as_json() for rule in self.rules],
            "suggestionsAcceptedByKind": dict(sorted(self.suggestions_accepted.items())),
            "unknownCardFeedback": self.unknown_card_feedback,
            "timeline": self.timeline_json(),
        }


def _within(column: Any, period: Period) -> Any:
    clauses = []
    if period.since is not None:
        clauses.append(column >= period.since)
    if period.until is not None:
        clauses.append(column < period.until)
    return and_(true(), *clauses)


def _utc_day(column: Any, dialect: str) -> Any:
    """The UTC calendar day of a timestamp column, as YYYY-MM-DD text."""
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    # SQLite keeps the UTC wall time the store wrote, as ISO text.
    return func.substr(column, 1, 10)


def build_report(engine: Engine, period: Period | None = None) -> Report:
    """Cards are counted by when they were issued; feedback by its outcomeTimestamp."""
    period = period or Period()
    stats: dict[str, RuleStats] = {}
    timeline: dict[tuple[str, str], dict[str, int]] = {}

    def day_counts(day: str, rule: str) -> dict[str, int]:
        key = (day, rule)
        if key not in timeline:
            timeline[key] = dict.fromkeys(TIMELINE_COUNTS, 0)
        return timeline[key]

    def rule_stats(rule: str) -> RuleStats:
        if rule not in stats:
            stats[rule] = RuleStats(rule)
        return stats[rule]

    # The card a feedback row is about decides its rule; feedback for cards the service
    # never issued is reported under its own heading (the join finds no card).
    rule_of_feedback = func.coalesce(issued_cards.c.rule_id, UNKNOWN_CARD_RULE)
    with engine.connect() as conn:
        issued_day = _utc_day(issued_cards.c.issued_at, conn.dialect.name)
        for day, rule, disposition, count in conn.execute(
            select(issued_day, issued_cards.c.rule_id, issued_cards.c.disposition, func.count())
            .where(_within(issued_cards.c.issued_at, period))
            .group_by(issued_day, issued_cards.c.rule_id, issued_cards.c.disposition)
        ):
            entry = rule_stats(rule)
            entry.issued += count
            if disposition in ("shown", "silent", "suppressed"):
                setattr(entry, disposition, getattr(entry, disposition) + count)
                day_counts(day, rule)[disposition] += count

        feedback_day = _utc_day(feedback.c.outcome_timestamp, conn.dialect.name)
        for day, rule, outcome, system, code, display, count in conn.execute(
            select(
                feedback_day,
                rule_of_feedback,
                feedback.c.outcome,
                feedback.c.override_system,
                feedback.c.override_code,
                feedback.c.override_display,
                func.count(),
            )
            .select_from(
                feedback.outerjoin(issued_cards, issued_cards.c.card_uuid == feedback.c.card_uuid)
            )
            .where(_within(feedback.c.outcome_timestamp, period))
            .group_by(
                feedback_day,
                rule_of_feedback,
                feedback.c.outcome,
                feedback.c.override_system,
                feedback.c.override_code,
                feedback.c.override_display,
            )
        ):
            entry = rule_stats(rule)
            day_counts(day, rule)["accepted" if outcome == "accepted" else "overridden"] += count
            if outcome == "accepted":
                entry.accepted += count
            else:
                entry.overridden += count
                key = (system, code, display)
                entry.override_reasons[key] = entry.override_reasons.get(key, 0) + count

        suggestion_kind = func.coalesce(issued_suggestions.c.kind, "(unknown suggestion)")
        accepted_by_kind: dict[str, int] = defaultdict(int)
        for kind, count in conn.execute(
            select(suggestion_kind, func.count())
            .select_from(
                feedback_suggestions.join(
                    feedback, feedback.c.id == feedback_suggestions.c.feedback_id
                ).outerjoin(
                    issued_suggestions,
                    and_(
                        issued_suggestions.c.card_uuid == feedback.c.card_uuid,
                        issued_suggestions.c.suggestion_uuid
                        == feedback_suggestions.c.suggestion_id,
                    ),
                )
            )
            .where(_within(feedback.c.outcome_timestamp, period))
            .group_by(suggestion_kind)
        ):
            accepted_by_kind[kind] += count

    unknown = stats.get(UNKNOWN_CARD_RULE)
    rules = sorted(
        stats.values(), key=lambda s: (s.rule == UNKNOWN_CARD_RULE, _rule_sort_key(s.rule))
    )
    return Report(
        period=period,
        rules=rules,
        suggestions_accepted=dict(accepted_by_kind),
        unknown_card_feedback=unknown.feedback if unknown else 0,
        timeline=timeline,
    )


def _rule_sort_key(rule: str) -> tuple[str, int, str]:
    # R2 before R10: rule ids are a letter prefix and a number.
    prefix = rule.rstrip("0123456789")
    digits = rule[len(prefix) :]
    return (prefix, int(digits) if digits else -1, rule)
