"""Card dispositions (shown, silent, suppressed) and per-patient rule snoozes.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("issued_cards") as batch:
        batch.add_column(
            sa.Column("disposition", sa.String(16), nullable=False, server_default="shown")
        )
        batch.add_column(sa.Column("facts_fingerprint", sa.String(64), nullable=True))
        batch.add_column(sa.Column("override_codes", sa.Text(), nullable=True))
    op.create_table(
        "rule_snoozes",
        sa.Column("patient_hash", sa.String(64), nullable=False),
        sa.Column("rule_id", sa.String(64), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("facts_fingerprint", sa.String(64), nullable=True),
        sa.Column("reason_code", sa.Text(), nullable=False),
        sa.Column("card_uuid", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("patient_hash", "rule_id", name="pk_rule_snoozes"),
    )


def downgrade() -> None:
    op.drop_table("rule_snoozes")
    with op.batch_alter_table("issued_cards") as batch:
        batch.drop_column("override_codes")
        batch.drop_column("facts_fingerprint")
        batch.drop_column("disposition")
