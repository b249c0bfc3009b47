"""Keep each entry's event data, so queries (SLA, funnel) read the timeline alone.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.add_column("entries", sa.Column("data", JSONB, nullable=False, server_default="{}"),
                  schema="timeline")
    op.create_index("timeline_entries_by_type", "entries", ["type", "time"], schema="timeline")
