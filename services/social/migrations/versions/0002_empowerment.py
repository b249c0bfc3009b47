"""Empowerment and graduation: needs and their tickets, income, children, grants, visits.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"

SCHEMA = "social"


def _household() -> sa.Column:
    return sa.Column("household_ref", sa.Text, sa.ForeignKey("social.households.household_ref"),
                     nullable=False)


def upgrade() -> None:
    op.add_column("households", sa.Column("grant_eligible_on", sa.Date), schema=SCHEMA)
    op.add_column("households", sa.Column("graduated_on", sa.Date), schema=SCHEMA)
    op.create_table(
        "household_needs",
        _household(),
        sa.Column("need", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("ticket_id", sa.Uuid, unique=True),
        sa.Column("rejection_reason", sa.Text),
        sa.Column("resolved_on", sa.Date),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("household_ref", "need"),
        schema=SCHEMA,
    )
    # Needs flagged before this revision: flagged, their tickets not seen yet.
    op.execute(
        "INSERT INTO social.household_needs (household_ref, need, status) "
        "SELECT household_ref, jsonb_array_elements_text(flagged_needs), 'flagged' "
        "FROM social.households"
    )
    op.create_table(
        "income_reports",
        _household(),
        sa.Column("reported_on", sa.Date, nullable=False),
        sa.Column("monthly_income", sa.BigInteger, nullable=False),
        sa.Column("event_id", sa.Uuid, nullable=False),
        sa.PrimaryKeyConstraint("household_ref", "reported_on"),
        schema=SCHEMA,
    )
    op.create_table(
        "referred_children",
        _household(),
        sa.Column("person_ref", sa.Text, nullable=False),
        sa.Column("referred_on", sa.Date, nullable=False),
        sa.PrimaryKeyConstraint("household_ref", "person_ref"),
        schema=SCHEMA,
    )
    op.create_table(
        "dropout_risks",
        sa.Column("risk_event_id", sa.Uuid, primary_key=True),
        _household(),
        sa.Column("person_ref", sa.Text, nullable=False),
        sa.Column("follow_up_event_id", sa.Uuid, nullable=False),
        sa.Column("reengaged_event_id", sa.Uuid),
        schema=SCHEMA,
    )
    op.create_index("social_open_dropout_risks", "dropout_risks",
                    ["household_ref", "person_ref"], schema=SCHEMA)
    op.create_table(
        "grants",
        sa.Column("event_id", sa.Uuid, primary_key=True),
        _household(),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("business_type", sa.Text, nullable=False),
        sa.Column("mentor", sa.Text, nullable=False),
        sa.Column("awarded_on", sa.Date, nullable=False),
        schema=SCHEMA,
    )
    op.create_index("social_grants_by_household", "grants", ["household_ref"], schema=SCHEMA)
    op.create_table(
        "mentoring_visits",
        sa.Column("event_id", sa.Uuid, primary_key=True),
        _household(),
        sa.Column("business_status", sa.Text, nullable=False),
        sa.Column("monthly_revenue", sa.BigInteger, nullable=False),
        sa.Column("visited_on", sa.Date, nullable=False),
        schema=SCHEMA,
    )
    op.create_index("social_visits_by_household", "mentoring_visits", ["household_ref"],
                    schema=SCHEMA)
