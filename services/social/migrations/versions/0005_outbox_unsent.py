"""The outbox's unsent rows listed in a table of their own, so marking one sent is a HOT
update (services/runtime/tables.py, ``outbox_unsent_table``).

Revision ID: 0005
"""

from services.runtime.migration_ops import list_unsent_outbox_rows

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    list_unsent_outbox_rows("social")
