"""Card log, feedback and store metadata.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "store_meta",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_store_meta"),
    )
    op.create_table(
        "issued_cards",
        sa.Column("card_uuid", sa.String(128), nullable=False),
        sa.Column("service_id", sa.String(128), nullable=False),
        sa.Column("rule_id", sa.String(64), nullable=False),
        sa.Column("hook_instance", sa.String(256), nullable=False),
        sa.Column("patient_hash", sa.String(64), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("card_uuid", name="pk_issued_cards"),
    )
    op.create_index("ix_issued_cards_issued_at", "issued_cards", ["issued_at"])
    op.create_index("ix_issued_cards_rule_id", "issued_cards", ["rule_id"])
    op.create_table(
        "issued_suggestions",
        sa.Column("card_uuid", sa.String(128), nullable=False),
        sa.Column("suggestion_uuid", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(128), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("card_uuid", "suggestion_uuid", name="pk_issued_suggestions"),
        sa.ForeignKeyConstraint(
            ["card_uuid"],
            ["issued_cards.card_uuid"],
            name="fk_issued_suggestions_card_uuid_issued_cards",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("natural_key", sa.String(64), nullable=False),
        sa.Column("service_id", sa.String(128), nullable=False),
        sa.Column("card_uuid", sa.String(128), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("outcome_timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("unknown_card", sa.Boolean(), nullable=False),
        sa.Column("override_system", sa.Text(), nullable=True),
        sa.Column("override_code", sa.Text(), nullable=True),
        sa.Column("override_display", sa.Text(), nullable=True),
        sa.Column("user_comment", sa.Text(), nullable=True),
        sa.Column("client_iss", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_feedback"),
        sa.UniqueConstraint("natural_key", name="uq_feedback_natural_key"),
    )
    op.create_index("ix_feedback_card_uuid", "feedback", ["card_uuid"])
    op.create_index("ix_feedback_outcome_timestamp", "feedback", ["outcome_timestamp"])
    op.create_table(
        "feedback_suggestions",
        sa.Column("feedback_id", sa.Integer(), nullable=False),
        sa.Column("suggestion_id", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("feedback_id", "suggestion_id", name="pk_feedback_suggestions"),
        sa.ForeignKeyConstraint(
            ["feedback_id"],
            ["feedback.id"],
            name="fk_feedback_suggestions_feedback_id_feedback",
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    op.drop_table("feedback_suggestions")
    op.drop_index("ix_feedback_outcome_timestamp", table_name="feedback")
    op.drop_index("ix_feedback_card_uuid", table_name="feedback")
    op.drop_table("feedback")
    op.drop_table("issued_suggestions")
    op.drop_index("ix_issued_cards_rule_id", table_name="issued_cards")
    op.drop_index("ix_issued_cards_issued_at", table_name="issued_cards")
    op.drop_table("issued_cards")
    op.drop_table("store_meta")
