"""When Dinsos wrote each referral, so a child referred by two households belongs to the
one that referred it last in Dinsos's own order (``store.children_at_risk``), as it does
in Education's (which moves a pupil to a later referral, by its time-ordered event id).
The assessment date a case system supplies need not follow that order.

Rows from before take their assessment date.

Revision ID: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"

SCHEMA = "social"


def upgrade() -> None:
    op.add_column("referred_children", sa.Column("referred_at", sa.DateTime(timezone=True)),
                  schema=SCHEMA)
    op.execute(f"UPDATE {SCHEMA}.referred_children SET referred_at = referred_on")
    op.alter_column("referred_children", "referred_at", nullable=False,
                    server_default=sa.text("clock_timestamp()"), schema=SCHEMA)
