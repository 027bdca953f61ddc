"""The JWT replay record: each (iss, jti) accepted once, shared by every replica.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jwt_jti",
        sa.Column("iss", sa.String(2048), nullable=False),
        sa.Column("jti", sa.String(256), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("iss", "jti", name="pk_jwt_jti"),
    )
    op.create_index("ix_jwt_jti_expires_at", "jwt_jti", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_jwt_jti_expires_at", table_name="jwt_jti")
    op.drop_table("jwt_jti")
