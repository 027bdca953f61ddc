"""Which computed cards reach the clinician: rule modes, pilot groups and snoozes.

Every service's response path goes through ``Governance.apply``: it sorts the cards the
engine computed into the ones returned (``shown``), the ones written to the card log only
(``silent``: the rule is silent for this caller; ``suppressed``: a clinician overrode the
rule for this patient and the snooze still holds), and drops those of rules that are off.

A snooze rests on the facts the card rested on: ``facts_fingerprint`` digests the patient's
bone density studies, FRAX results and fractures (their resources and dates). A new DXA, a
new FRAX or a new fracture changes the digest, and a snooze taken on other facts no longer
holds: the card comes back because the picture changed.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from cds_service.governance_rules import Mode, RulesConfig, load_rules_file
from cds_service.settings import Settings
from cds_service.store.card_log import rule_of
from cds_service.store.snoozes import Snooze, SnoozesUnavailable
from fhir_mappings.facts import PatientFacts, Provenance

logger = logging.getLogger(__name__)

EXTENSION = "governance"


class SnoozeSource(Protocol):
    def active_snoozes(self, patient_id: str, now: datetime) -> Mapping[str, Snooze]: ...


@dataclass(slots=True)
class Governed:
    shown: list[dict[str, Any]] = field(default_factory=list)
    silent: list[dict[str, Any]] = field(default_factory=list)
    suppressed: list[dict[str, Any]] = field(default_factory=list)


def _provenance_keys(kind: str, sources: Iterable[Provenance]) -> Iterable[str]:
    for source in sources:
        day = source.date.isoformat() if source.date else ""
        yield f"{kind}|{source.reference}|{day}"


def facts_fingerprint(facts: PatientFacts) -> str:
    """A digest of the DXA, FRAX and fracture facts (resource and date of each)."""
    keys: set[str] = set()
    keys.update(_provenance_keys("dxa", (s.source for s in facts.bone_density_scores)))
    keys.update(_provenance_keys("dxa", (e.source for e in facts.dxa_events)))
    keys.update(_provenance_keys("frax", (f.source for f in facts.frax)))
    for fracture in facts.fractures:
        keys.update(_provenance_keys("fracture", (fracture.source, *fracture.sources)))
    digest = hashlib.sha256("\n".join(sorted(keys)).encode("utf-8"))
    return digest.hexdigest()


def utc_now() -> datetime:
    return datetime.now(UTC)


class Governance:
    """The deployment's rules file and the shared snooze store; ``app.extensions["governance"]``.

    ``clock`` is the one source of "now" for snoozes (when one starts, whether it holds).
    """

    def __init__(
        self,
        config: RulesConfig,
        snoozes: SnoozeSource | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.config = config
        self.snoozes = snoozes
        self.clock = clock

    def apply(
        self,
        cards: Sequence[dict[str, Any]],
        *,
        patient_id: str,
        user_id: str | None,
        issuer: str | None,
        facts_fingerprint: str | None,
        now: datetime,
    ) -> Governed:
        governed = Governed()
        candidates: list[tuple[str, dict[str, Any]]] = []
        for card in cards:
            rule = rule_of(card)
            mode = self.config.mode_for(rule, user_id, issuer)
            if mode is Mode.ACTIVE:
                candidates.append((rule, card))
            elif mode is Mode.SILENT:
                governed.silent.append(card)
        snoozed = self._snoozed(candidates, patient_id, facts_fingerprint, now)
        for rule, card in candidates:
            (governed.suppressed if rule in snoozed else governed.shown).append(card)
        return governed

    def _snoozed(
        self,
        candidates: list[tuple[str, dict[str, Any]]],
        patient_id: str,
        fingerprint: str | None,
        now: datetime,
    ) -> set[str]:
        if not candidates or self.snoozes is None:
            return set()
        try:
            active = self.snoozes.active_snoozes(patient_id, now)
        except (SQLAlchemyError, SnoozesUnavailable) as exc:
            # The clinician's guidance must not be lost to a store outage: without the
            # snoozes the cards are shown (the store reports its health through /readyz).
            name = str(exc) if isinstance(exc, SnoozesUnavailable) else type(exc).__name__
            logger.error("snoozes unavailable, cards shown: %s", name)
            return set()
        return {
            rule
            for rule, snooze in active.items()
            if snooze.until > now and snooze.facts_fingerprint == fingerprint
        }


def init_app(app: Flask, settings: Settings) -> None:
    """Load ``CDS_RULES_FILE``; a mistake raises ConfigurationError (the service stops)."""
    config = load_rules_file(settings.rules_file) if settings.rules_file else RulesConfig()
    app.extensions[EXTENSION] = Governance(config)
    changed = config.describe()
    if changed:
        logger.info("rule modes: %s", ", ".join(f"{k} {v}" for k, v in changed.items()))


def attach_store(app: Flask) -> None:
    """Read snoozes from the app's store (shared by every replica on the same database)."""
    store = app.extensions.get("store")
    if store is not None:
        app.extensions[EXTENSION].snoozes = store.snoozes
