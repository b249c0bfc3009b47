"""Who replayed which dead letter, when, and where the copy went.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "dlq_replays",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("dead_letter", sa.Text, nullable=False, index=True),
        sa.Column("reason", sa.Text),
        sa.Column("original_topic", sa.Text, nullable=False),
        sa.Column("original_partition", sa.Integer),
        sa.Column("original_offset", sa.BigInteger),
        sa.Column("event_id", sa.Text),
        sa.Column("event_type", sa.Text),
        sa.Column("replayed_by", sa.Text, nullable=False),
        sa.Column("replayed_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("forced", sa.Boolean, nullable=False),
        sa.Column("replay_partition", sa.Integer, nullable=False),
        sa.Column("replay_offset", sa.BigInteger, nullable=False),
        schema="operations",
    )
