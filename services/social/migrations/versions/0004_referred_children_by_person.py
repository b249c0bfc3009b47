"""Find a referred child by person ref.

Resolving a batch's NIK numbers asks which would-be refs are already in use (refs minted
before the lookup table). The primary key starts with the household, so without this
index each batch scanned the whole table: at 50 000 households, half of Dinsos's time.

Revision ID: 0004
"""

from alembic import op

revision = "0004"
down_revision = "0003"

SCHEMA = "social"


def upgrade() -> None:
    op.create_index("social_referred_children_by_person", "referred_children", ["person_ref"],
                    schema=SCHEMA)
