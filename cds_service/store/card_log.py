"""The card log: every card the service issues, so that feedback can be joined to its rule."""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from cds_service.store.db import write_transaction
from cds_service.store.models import issued_cards, issued_suggestions
from cds_service.store.patient_hash import hash_patient_id
from cds_service.store.snoozes import override_codes
from cds_service.store.sql import insert_ignoring_duplicates, utc_now

logger = logging.getLogger(__name__)

RULE_SYSTEM = "urn:osteopenia-cds:rule"
RULE_EXTENSION = "urn:osteopenia-cds:rule"
SUGGESTION_KIND_EXTENSION = "urn:osteopenia-cds:suggestion-kind"
UNKNOWN_RULE = "unknown"

# What became of a logged card (cds_service.governance): returned to the EHR, computed for a
# rule that is silent for this caller, or held back by a snooze after an override.
SHOWN = "shown"
SILENT = "silent"
SUPPRESSED = "suppressed"

# The deferred card log writes what the hook handler queued at most this long after the first
# queued call, in one transaction; a SIGKILL can lose the card-log rows of that window (never
# feedback, which commits before its 200). Feedback about such a card is stored all the same,
# marked unknown_card.
FLUSH_INTERVAL_S = 0.1
# Hook calls waiting to be written. When the writer falls this far behind (a slow or locked
# database), the calling request writes the backlog itself: slower, but nothing is dropped.
MAX_PENDING_CALLS = 1000

Rows = tuple[list[dict[str, Any]], list[dict[str, Any]]]


def storable(text: str, limit: int) -> str:
    """Text any database accepts: no NUL, no unpaired surrogates, at most ``limit`` chars."""
    cleaned = text.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")
    return cleaned[:limit]


def rule_of(card: Mapping[str, Any]) -> str:
    """The guideline rule of a card: source.topic.code, else the rule extension."""
    source = card.get("source")
    topic = source.get("topic") if isinstance(source, Mapping) else None
    if isinstance(topic, Mapping) and isinstance(topic.get("code"), str) and topic["code"]:
        return storable(topic["code"], 64)
    extension = card.get("extension")
    if isinstance(extension, Mapping):
        rule = extension.get(RULE_EXTENSION)
        if isinstance(rule, str) and rule:
            return storable(rule, 64)
    return UNKNOWN_RULE


# Where a draft order names what it orders, by resource type.
_ORDERED_CONCEPT = {
    "MedicationRequest": "medicationCodeableConcept",
    "ServiceRequest": "code",
}


def _ordered_item(resource: Mapping[str, Any]) -> str | None:
    """The name of what a draft order orders: its first coding's display, else code, else text."""
    concept = resource.get(_ORDERED_CONCEPT.get(str(resource.get("resourceType")), "code"))
    if not isinstance(concept, Mapping):
        return None
    codings = concept.get("coding")
    for coding in codings if isinstance(codings, list) else ():
        if isinstance(coding, Mapping):
            for key in ("display", "code"):
                if isinstance(coding.get(key), str) and coding[key].strip():
                    return str(coding[key]).strip()
    text = concept.get("text")
    return text.strip() if isinstance(text, str) and text.strip() else None


def suggestion_kind(suggestion: Mapping[str, Any]) -> str:
    """What a suggestion orders, e.g. ``MedicationRequest: alendronate``.

    A kind named by the card renderer in the suggestion's extension wins; otherwise the
    resource type of each action with the coded item it orders, so the report can tell the
    drug or test clinicians accept from the ones they pass over.
    """
    extension = suggestion.get("extension")
    if isinstance(extension, Mapping):
        kind = extension.get(SUGGESTION_KIND_EXTENSION)
        if isinstance(kind, str) and kind:
            return storable(kind, 128)
    kinds: list[str] = []
    actions = suggestion.get("actions")
    for action in actions if isinstance(actions, list) else ():
        if not isinstance(action, Mapping):
            continue
        resource = action.get("resource")
        if isinstance(resource, Mapping) and isinstance(resource.get("resourceType"), str):
            item = _ordered_item(resource)
            kind = f"{resource['resourceType']}: {item}" if item else resource["resourceType"]
        elif isinstance(action.get("resourceId"), str):
            kind = action["resourceId"].split("/", 1)[0]
        else:
            continue
        if kind not in kinds:
            kinds.append(kind)
    return storable(" + ".join(kinds), 128) if kinds else "other"


class CardLog:
    """Records issued cards; registered as ``app.extensions["card_log"]``.

    ``record`` writes and commits before it returns. ``record_deferred`` (what the hook
    handler uses) builds the rows at once but leaves the commit to a background thread that
    writes every queued call in one transaction, at most ``FLUSH_INTERVAL_S`` after it was
    queued: the clinician's cards no longer wait for a disk sync or for another worker's
    write lock, and many requests share one commit. ``flush`` writes the queue now; the
    feedback and analytics routes call it before they read the card log, and it runs when
    the store closes and when the process exits.
    """

    def __init__(self, engine: Engine, salt: str) -> None:
        self._engine = engine
        self._salt = salt
        self._pending: deque[Rows] = deque()
        self._wake = threading.Condition()
        self._write_lock = threading.Lock()  # one writer of the queue at a time
        self._writer: threading.Thread | None = None
        self._writer_pid = 0
        self._closed = False

    def record(
        self,
        *,
        service_id: str,
        hook_instance: str,
        patient_id: str,
        cards: Sequence[Mapping[str, Any]],
        silent: Sequence[Mapping[str, Any]] = (),
        suppressed: Sequence[Mapping[str, Any]] = (),
        facts_fingerprint: str | None = None,
    ) -> None:
        """Store the cards of one hook call: ``cards`` were returned, ``silent`` and
        ``suppressed`` were not (see cds_service.governance). Never raises: the clinician's
        cards must not fail because analytics storage is unavailable; the failure is logged."""
        rows = self._rows(
            service_id,
            hook_instance,
            patient_id,
            ((SHOWN, cards), (SILENT, silent), (SUPPRESSED, suppressed)),
            facts_fingerprint,
        )
        if rows[0]:
            self._write([rows])

    def record_deferred(
        self,
        *,
        service_id: str,
        hook_instance: str,
        patient_id: str,
        cards: Sequence[Mapping[str, Any]],
        silent: Sequence[Mapping[str, Any]] = (),
        suppressed: Sequence[Mapping[str, Any]] = (),
        facts_fingerprint: str | None = None,
    ) -> None:
        """Queue the cards of one hook call for the background writer (see the class)."""
        rows = self._rows(
            service_id,
            hook_instance,
            patient_id,
            ((SHOWN, cards), (SILENT, silent), (SUPPRESSED, suppressed)),
            facts_fingerprint,
        )
        if not rows[0]:
            return
        if self._closed:
            self._write([rows])
            return
        with self._wake:
            self._pending.append(rows)
            backlog = len(self._pending) > MAX_PENDING_CALLS
            self._ensure_writer()
            self._wake.notify()
        if backlog:
            self.flush()

    def flush(self) -> None:
        """Write every queued call now (returns after the commit, or after logging why not)."""
        with self._write_lock:
            batch = self._drain()
            if batch:
                self._write_unlocked(batch)

    def close(self) -> None:
        """Write what is queued and stop the writer thread."""
        self._closed = True
        with self._wake:
            self._wake.notify()
        self.flush()

    def _drain(self) -> list[Rows]:
        with self._wake:
            batch = list(self._pending)
            self._pending.clear()
        return batch

    def _ensure_writer(self) -> None:
        # Under self._wake. A forked child inherits the queue but not the thread.
        if self._writer is not None and self._writer_pid == os.getpid():
            return
        self._writer_pid = os.getpid()
        self._writer = threading.Thread(
            target=_run_writer, args=(self,), name="card-log-writer", daemon=True
        )
        self._writer.start()
        _flush_at_exit(self)

    def _write(self, batch: list[Rows]) -> None:
        with self._write_lock:
            self._write_unlocked(batch)

    def _write_unlocked(self, batch: list[Rows]) -> None:
        card_rows = [row for cards, _ in batch for row in cards]
        suggestion_rows = [row for _, suggestions in batch for row in suggestions]
        try:
            with write_transaction(self._engine) as conn:
                conn.execute(insert_ignoring_duplicates(conn, issued_cards), card_rows)
                if suggestion_rows:
                    conn.execute(
                        insert_ignoring_duplicates(conn, issued_suggestions), suggestion_rows
                    )
        except SQLAlchemyError as exc:
            # Only the error's class: a database message can quote the statement's values.
            logger.error(
                "card log: could not record %d card(s): %s", len(card_rows), type(exc).__name__
            )

    def _rows(
        self,
        service_id: str,
        hook_instance: str,
        patient_id: str,
        groups: Iterable[tuple[str, Sequence[Mapping[str, Any]]]],
        facts_fingerprint: str | None,
    ) -> Rows:
        now = utc_now()
        patient_hash = hash_patient_id(self._salt, patient_id)
        card_rows: list[dict[str, Any]] = []
        suggestion_rows: list[dict[str, Any]] = []
        for disposition, card in ((d, c) for d, cards in groups for c in cards):
            uuid = card.get("uuid")
            # Without a uuid a client cannot send feedback for the card (spec 2.0.1, Card).
            if (
                not isinstance(uuid, str)
                or not uuid
                or len(uuid) > 128
                or storable(uuid, 128) != uuid
            ):
                continue
            card_rows.append(
                {
                    "card_uuid": uuid,
                    "service_id": storable(service_id, 128),
                    "rule_id": rule_of(card),
                    "hook_instance": storable(str(hook_instance), 256),
                    "patient_hash": patient_hash,
                    "issued_at": now,
                    "disposition": disposition,
                    "facts_fingerprint": facts_fingerprint,
                    "override_codes": override_codes(card),
                }
            )
            suggestions = card.get("suggestions")
            for suggestion in suggestions if isinstance(suggestions, list) else ():
                if not isinstance(suggestion, Mapping):
                    continue
                suggestion_uuid = suggestion.get("uuid")
                if (
                    not isinstance(suggestion_uuid, str)
                    or not 0 < len(suggestion_uuid) <= 128
                    or storable(suggestion_uuid, 128) != suggestion_uuid
                ):
                    continue
                suggestion_rows.append(
                    {
                        "card_uuid": uuid,
                        "suggestion_uuid": suggestion_uuid,
                        "kind": suggestion_kind(suggestion),
                        "label": storable(str(suggestion.get("label", "")), 1000),
                    }
                )
        return card_rows, suggestion_rows


def _run_writer(card_log: CardLog) -> None:
    """The background writer: sleeps until a call is queued, lets more arrive for up to
    FLUSH_INTERVAL_S, then writes them all in one transaction; ends when the log closes."""
    while True:
        with card_log._wake:
            while not card_log._pending and not card_log._closed:
                card_log._wake.wait()
            closed = card_log._closed
        if not closed:
            time.sleep(FLUSH_INTERVAL_S)
        card_log.flush()
        if closed:
            return


_exit_flush: weakref.WeakSet[CardLog] = weakref.WeakSet()


def _flush_at_exit(card_log: CardLog) -> None:
    if not _exit_flush:
        atexit.register(_flush_all)
    _exit_flush.add(card_log)


def _flush_all() -> None:
    for card_log in list(_exit_flush):
        card_log.close()
