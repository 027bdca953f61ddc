"""Tables of the store: issued cards, their suggestions, feedback, and store metadata.

The schema itself is owned by the Alembic migrations in ``migrations/versions``; these
definitions mirror it for queries and must change together with a new migration.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

# Key/value facts about this store, e.g. the generated patient-hash salt. Kept in the
# database (not a file) so that replicas sharing one PostgreSQL hash patients alike.
store_meta = Table(
    "store_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

# One row per card the service returned. The patient is kept only as a salted hash.
issued_cards = Table(
    "issued_cards",
    metadata,
    Column("card_uuid", String(128), primary_key=True),
    Column("service_id", String(128), nullable=False),
    Column("rule_id", String(64), nullable=False),
    Column("hook_instance", String(256), nullable=False),
    Column("patient_hash", String(64), nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False),
    # shown (returned), silent (rule silent for this caller) or suppressed (snoozed).
    Column("disposition", String(16), nullable=False, server_default="shown"),
    # What a snooze taken on this card rests on (see cds_service.governance).
    Column("facts_fingerprint", String(64)),
    # The card's override reason codes, space-separated: only these can snooze it.
    Column("override_codes", Text),
    Index("ix_issued_cards_issued_at", "issued_at"),
    Index("ix_issued_cards_rule_id", "rule_id"),
)

# The suggestions of issued cards, so accepted suggestion ids resolve to a kind of order.
issued_suggestions = Table(
    "issued_suggestions",
    metadata,
    Column(
        "card_uuid",
        String(128),
        ForeignKey("issued_cards.card_uuid", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("suggestion_uuid", String(128), primary_key=True),
    Column("kind", String(128), nullable=False),
    Column("label", Text, nullable=False),
)

# One row per distinct feedback item. ``natural_key`` is a digest of the item's content, so
# a client retrying a POST (or sending the same item twice) cannot create a second row.
feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("natural_key", String(64), nullable=False),
    Column("service_id", String(128), nullable=False),
    Column("card_uuid", String(128), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("outcome_timestamp", DateTime(timezone=True), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("unknown_card", Boolean, nullable=False),
    Column("override_system", Text),
    Column("override_code", Text),
    Column("override_display", Text),
    Column("user_comment", Text),
    Column("client_iss", Text),
    UniqueConstraint("natural_key", name="uq_feedback_natural_key"),
    Index("ix_feedback_card_uuid", "card_uuid"),
    Index("ix_feedback_outcome_timestamp", "outcome_timestamp"),
)

feedback_suggestions = Table(
    "feedback_suggestions",
    metadata,
    Column(
        "feedback_id",
        Integer,
        ForeignKey("feedback.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("suggestion_id", String(128), primary_key=True),
)

# The ``jti`` of every authentication JWT accepted and not yet expired, per issuer: the replay
# record all replicas consult (``cds_service.security.replay_store``).
jwt_jti = Table(
    "jwt_jti",
    metadata,
    Column("iss", String(2048), primary_key=True),
    Column("jti", String(256), primary_key=True),
    Column("expires_at", Float, nullable=False),  # seconds since the epoch
    Index("ix_jwt_jti_expires_at", "expires_at"),
)

# A rule kept quiet for one patient after a clinician overrode its card with a reason that
# snoozes (cds_service.governance_rules). One row per patient and rule: a later override
# replaces it. Shared by every replica through the database.
rule_snoozes = Table(
    "rule_snoozes",
    metadata,
    Column("patient_hash", String(64), primary_key=True),
    Column("rule_id", String(64), primary_key=True),
    Column("until", DateTime(timezone=True), nullable=False),
    Column("facts_fingerprint", String(64)),
    Column("reason_code", Text, nullable=False),
    Column("card_uuid", String(128), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
