"""Households, outbox and inbox.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from services.runtime.migration_ops import create_outbox_and_inbox

revision = "0001"
down_revision = None


def upgrade() -> None:
    create_outbox_and_inbox("social")
    op.create_table(
        "households",
        sa.Column("household_ref", sa.Text, primary_key=True),
        sa.Column("region_code", sa.Text, nullable=False),
        sa.Column("village", sa.Text, nullable=False),
        sa.Column("member_count", sa.Integer, nullable=False),
        sa.Column("monthly_income", sa.Integer, nullable=False),
        sa.Column("registered_on", sa.Date, nullable=False),
        sa.Column("assessed_on", sa.Date, nullable=False),
        sa.Column("flagged_needs", JSONB, nullable=False, server_default="[]"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        schema="social",
    )
