"""Timeline entries, outbox and inbox.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

from services.runtime.migration_ops import create_outbox_and_inbox

revision = "0001"
down_revision = None


def upgrade() -> None:
    create_outbox_and_inbox("timeline")
    op.create_table(
        "entries",
        sa.Column("event_id", sa.Uuid, primary_key=True),
        sa.Column("household_ref", sa.Text, nullable=False),
        sa.Column("correlation_id", sa.Text, nullable=False),
        sa.Column("causation_id", sa.Uuid),
        sa.Column("agency", sa.Text, nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("region_code", sa.Text),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        schema="timeline",
    )
    op.create_index("timeline_entries_by_household", "entries",
                    ["household_ref", "time", "event_id"], schema="timeline")
