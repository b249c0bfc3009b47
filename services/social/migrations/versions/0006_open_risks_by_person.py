"""Find a child's open dropout risks by person ref, whichever household raised them.

A child referred again by another household (a family card split) takes its open risks
along: ``store.children_at_risk`` counts them for the household that referred it last, and
a re-engagement closes them wherever they were raised.

Revision ID: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"

SCHEMA = "social"


def upgrade() -> None:
    op.create_index("social_open_dropout_risks_by_person", "dropout_risks", ["person_ref"],
                    schema=SCHEMA, postgresql_where=sa.text("reengaged_event_id IS NULL"))
