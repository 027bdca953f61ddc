"""Per-patient rule snoozes: taken when feedback overrides a card, read on every hook call.

Kept in the database, so every replica honours an override given through any other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, select
from sqlalchemy.dialects import postgresql, sqlite

from cds_service.store.models import issued_cards, rule_snoozes
from cds_service.store.patient_hash import hash_patient_id
from cds_service.store.sql import as_utc

OVERRIDE_SYSTEM = "urn:osteopenia-cds:override-reason"


@dataclass(frozen=True, slots=True)
class Snooze:
    rule_id: str
    until: datetime
    facts_fingerprint: str | None


def override_codes(card: Mapping[str, Any]) -> str | None:
    """The card's own override reason codes, space-separated, for the card log."""
    reasons = card.get("overrideReasons")
    codes = [
        r["code"]
        for r in (reasons if isinstance(reasons, list) else ())
        if isinstance(r, Mapping)
        and r.get("system") == OVERRIDE_SYSTEM
        and isinstance(r.get("code"), str)
        and r["code"]
        and " " not in r["code"]
    ]
    return " ".join(codes)[:1000] if codes else None


class SnoozesUnavailable(RuntimeError):
    """The database could not be read (the driver's error class is the message)."""


class SnoozeStore:
    """Reads a patient's snoozes on every hook call that has a card to show.

    The read goes through the pool's driver connection with one fixed statement: through
    SQLAlchemy's statement machinery it cost about 1 ms a call, this way about 40 µs (SQLite).
    Every snooze of the patient is read (a handful at most) and ``until`` compared here, so
    the statement needs no dialect-specific timestamp parameter.
    """

    def __init__(self, engine: Engine, salt: str) -> None:
        self._engine = engine
        self._salt = salt
        placeholder = "%s" if engine.dialect.name == "postgresql" else "?"
        self._statement = (
            "SELECT rule_id, until, facts_fingerprint FROM rule_snoozes "
            f"WHERE patient_hash = {placeholder}"
        )

    def active_snoozes(self, patient_id: str, now: datetime) -> dict[str, Snooze]:
        patient_hash = hash_patient_id(self._salt, patient_id)
        connection = self._engine.raw_connection()  # SQLAlchemy errors for the pool
        try:
            cursor = connection.cursor()
            try:
                cursor.execute(self._statement, (patient_hash,))
                rows = cursor.fetchall()
            finally:
                cursor.close()
        except self._engine.dialect.loaded_dbapi.Error as exc:
            raise SnoozesUnavailable(type(exc).__name__) from None
        finally:
            connection.close()  # back to the pool, which rolls back what is open
        active: dict[str, Snooze] = {}
        for rule, until, fingerprint in rows:
            ends = as_utc(datetime.fromisoformat(until) if isinstance(until, str) else until)
            if ends > now:
                active[rule] = Snooze(rule, ends, fingerprint)
        return active


def snooze_after_override(
    conn: Connection,
    *,
    card_uuid: str,
    reason_system: str | None,
    reason_code: str | None,
    days_for: Mapping[str, int],
    now: datetime,
) -> bool:
    """Within the feedback transaction: snooze the card's rule for its patient when the
    override reason is one of the card's own and its period is not zero. True if snoozed."""
    if reason_system != OVERRIDE_SYSTEM or not reason_code:
        return False
    days = days_for.get(reason_code, 0)
    if days <= 0:
        return False
    card = conn.execute(
        select(
            issued_cards.c.rule_id,
            issued_cards.c.patient_hash,
            issued_cards.c.facts_fingerprint,
            issued_cards.c.override_codes,
        ).where(issued_cards.c.card_uuid == card_uuid)
    ).first()
    if card is None or reason_code not in (card.override_codes or "").split():
        return False
    values = {
        "patient_hash": card.patient_hash,
        "rule_id": card.rule_id,
        "until": now + timedelta(days=days),
        "facts_fingerprint": card.facts_fingerprint,
        "reason_code": reason_code,
        "card_uuid": card_uuid,
        "created_at": now,
    }
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(rule_snoozes).values(**values)
    # The latest override decides: a new reason (or the same one again) restarts the period.
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=[rule_snoozes.c.patient_hash, rule_snoozes.c.rule_id],
            set_={k: statement.excluded[k] for k in values if k not in ("patient_hash", "rule_id")},
        )
    )
    return True
