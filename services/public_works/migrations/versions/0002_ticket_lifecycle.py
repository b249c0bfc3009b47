"""Ticket lifecycle: the date of each step and the reason of a rejection.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    for name in ("scheduled_on", "started_on", "completed_on", "rejected_on"):
        op.add_column("tickets", sa.Column(name, sa.Date), schema="public_works")
    op.add_column("tickets", sa.Column("rejection_reason", sa.Text), schema="public_works")
