"""Pupils, monthly attendance, outbox and inbox.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

from services.runtime.migration_ops import create_outbox_and_inbox

revision = "0001"
down_revision = None


def upgrade() -> None:
    create_outbox_and_inbox("education")
    op.create_table(
        "pupils",
        sa.Column("person_ref", sa.Text, primary_key=True),
        sa.Column("household_ref", sa.Text, nullable=False, index=True),
        sa.Column("region_code", sa.Text, nullable=False),
        sa.Column("level", sa.Text, nullable=False),
        sa.Column("referral_event_id", sa.Uuid, nullable=False),
        sa.Column("at_risk", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("risk_event_id", sa.Uuid),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        schema="education",
    )
    op.create_table(
        "attendance",
        sa.Column("person_ref", sa.Text, sa.ForeignKey("education.pupils.person_ref"),
                  primary_key=True),
        sa.Column("month", sa.Text, primary_key=True),
        sa.Column("school_days", sa.Integer, nullable=False),
        sa.Column("days_present", sa.Integer, nullable=False),
        sa.Column("attendance_pct", sa.Numeric(4, 1), nullable=False),
        sa.Column("report_event_id", sa.Uuid, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        schema="education",
    )
