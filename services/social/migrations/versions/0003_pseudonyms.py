"""Pseudonym lookup: refs stay stable across a key rotation.

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"

SCHEMA = "social"


def upgrade() -> None:
    # Refs minted before this revision get no rows: without the KK/NIK numbers no lookup
    # hash can be computed. pseudonym.py finds them as the ref of the key that minted them.
    op.create_table(
        "pseudonyms",
        sa.Column("lookup_hash", sa.Text, primary_key=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("ref", sa.Text, nullable=False),
        sa.Column("key_fingerprint", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        schema=SCHEMA,
    )
    op.create_index("social_pseudonyms_by_key", "pseudonyms", ["key_fingerprint"], schema=SCHEMA)
