"""Tickets, outbox and inbox.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

from services.runtime.migration_ops import create_outbox_and_inbox

revision = "0001"
down_revision = None


def upgrade() -> None:
    create_outbox_and_inbox("public_works")
    op.create_table(
        "tickets",
        sa.Column("ticket_id", sa.Uuid, primary_key=True),
        sa.Column("household_ref", sa.Text, nullable=False, index=True),
        sa.Column("region_code", sa.Text, nullable=False),
        sa.Column("need", sa.Text, nullable=False),
        sa.Column("flag_event_id", sa.Uuid, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("due_on", sa.Date, nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.UniqueConstraint("flag_event_id", "need", name="one_ticket_per_need_per_flag"),
        schema="public_works",
    )
