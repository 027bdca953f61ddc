"""Persistence of validated feedback: idempotent, and all-or-nothing per request."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select

from cds_service.store.db import write_transaction
from cds_service.store.models import feedback, feedback_suggestions, issued_cards
from cds_service.store.snoozes import snooze_after_override
from cds_service.store.sql import insert_ignoring_duplicates, utc_now
from cds_service.store.validation import FeedbackItem


@dataclass(frozen=True, slots=True)
class StoreResult:
    received: int
    stored: int  # new rows; the rest were already stored (re-sent feedback)
    unknown_cards: int  # items, new or not, about a card this service never issued
    snoozed: int = 0  # overrides that snoozed their rule for the patient

    @property
    def duplicates(self) -> int:
        return self.received - self.stored


def store_feedback(
    engine: Engine,
    service_id: str,
    items: Sequence[FeedbackItem],
    *,
    client_iss: str | None = None,
    snooze_days: Mapping[str, int] | None = None,
    now: datetime | None = None,
) -> StoreResult:
    """Store a batch in one transaction; returns only after the commit.

    Each item is keyed by a digest of its content: the database's unique constraint, not a
    lookup in Python, decides that a re-sent item is a duplicate, so concurrent requests
    carrying the same item store it once.

    A new ``overridden`` item whose reason is one of the card's own override reasons snoozes
    the card's rule for its patient for ``snooze_days[reason]`` days from ``now``, in the
    same transaction: the clinician's answer and its effect are stored together or not at all.
    """
    received_at = now or utc_now()
    cards = sorted({item.card for item in items})
    stored = 0
    unknown = 0
    snoozed = 0
    with write_transaction(engine) as conn:
        known = set(
            conn.execute(
                select(issued_cards.c.card_uuid).where(issued_cards.c.card_uuid.in_(cards))
            ).scalars()
        )
        # A fixed order of inserts: two PostgreSQL transactions inserting the same keys in
        # opposite orders would otherwise deadlock on each other's uniqueness checks.
        keyed = sorted(((item.natural_key(service_id), item) for item in items), key=_first)
        for natural_key, item in keyed:
            is_unknown = item.card not in known
            unknown += is_unknown
            reason = item.override_reason
            inserted_id = conn.execute(
                insert_ignoring_duplicates(conn, feedback)
                .values(
                    natural_key=natural_key,
                    service_id=service_id,
                    card_uuid=item.card,
                    outcome=item.outcome,
                    outcome_timestamp=item.outcome_timestamp,
                    received_at=received_at,
                    unknown_card=is_unknown,
                    override_system=reason.system if reason else None,
                    override_code=reason.code if reason else None,
                    override_display=reason.display if reason else None,
                    user_comment=reason.user_comment if reason else None,
                    client_iss=client_iss,
                )
                .returning(feedback.c.id)
            ).scalar_one_or_none()
            if inserted_id is None:
                continue
            stored += 1
            if item.outcome == "overridden" and reason is not None and not is_unknown:
                snoozed += snooze_after_override(
                    conn,
                    card_uuid=item.card,
                    reason_system=reason.system,
                    reason_code=reason.code,
                    days_for=snooze_days or {},
                    now=received_at,
                )
            if item.accepted_suggestions:
                conn.execute(
                    feedback_suggestions.insert(),
                    [
                        {"feedback_id": inserted_id, "suggestion_id": suggestion}
                        for suggestion in item.accepted_suggestions
                    ],
                )
    return StoreResult(received=len(items), stored=stored, unknown_cards=unknown, snoozed=snoozed)


def _first(pair: tuple[str, FeedbackItem]) -> str:
    return pair[0]
