"""Stamp an entry when it is written, not when its transaction began.

The timeline handles a batch of events in one transaction and writes their entries at its
end; ``now()`` would date every entry of the batch to the batch's start.

Revision ID: 0003
"""

from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.execute("ALTER TABLE timeline.entries "
               "ALTER COLUMN recorded_at SET DEFAULT clock_timestamp()")
