"""Outbox and inbox of the intake API.

Revision ID: 0001
"""

from services.runtime.migration_ops import create_outbox_and_inbox

revision = "0001"
down_revision = None


def upgrade() -> None:
    create_outbox_and_inbox("intake_api")

