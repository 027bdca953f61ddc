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


class SnoozeStore:
    def __init__(self, engine: Engine, salt: str) -> None:
        self._engine = engine
        self._salt = salt

    def active_snoozes(self, patient_id: str, now: datetime) -> dict[str, Snooze]:
        patient_hash = hash_patient_id(self._salt, patient_id)
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(
                    rule_snoozes.c.rule_id,
                    rule_snoozes.c.until,
                    rule_snoozes.c.facts_fingerprint,
                ).where(rule_snoozes.c.patient_hash == patient_hash, rule_snoozes.c.until > now)
            ).all()
        return {rule: Snooze(rule, as_utc(until), fingerprint) for rule, until, fingerprint in rows}


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
