"""Alembic environment: always run with a connection handed in by ``cds_service.store.db``."""

from __future__ import annotations

from alembic import context

from cds_service.store.models import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("migrations run through `osteopenia-cds db upgrade` or at service start-up")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
