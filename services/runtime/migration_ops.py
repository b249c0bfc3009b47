"""Migration steps for the runtime's tables, shared by every service's first migration."""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from services.runtime.tables import OUTBOX_FILLFACTOR


def create_outbox_and_inbox(schema: str) -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("event_id", sa.Uuid, nullable=False, unique=True),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("headers", JSONB, nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        schema=schema,
    )
    op.create_index(f"{schema}_outbox_unsent", "outbox", ["id"], schema=schema,
                    postgresql_where=sa.text("sent_at IS NULL"))
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.Text, primary_key=True),
        sa.Column("event_id", sa.Uuid, primary_key=True),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        schema=schema,
    )


def list_unsent_outbox_rows(schema: str) -> None:
    """The outbox's unsent rows listed in a table of their own instead of a partial index,
    and half of each new page left free, so marking a row sent is a HOT update
    (``services.runtime.tables.outbox_unsent_table``)."""
    op.create_table(
        "outbox_unsent",
        sa.Column("id", sa.BigInteger, primary_key=True),
        schema=schema,
    )
    op.execute(f"INSERT INTO {schema}.outbox_unsent (id) "
               f"SELECT id FROM {schema}.outbox WHERE sent_at IS NULL")
    op.drop_index(f"{schema}_outbox_unsent", table_name="outbox", schema=schema)
    op.execute(f"ALTER TABLE {schema}.outbox SET (fillfactor = {OUTBOX_FILLFACTOR})")
