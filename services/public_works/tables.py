"""The Public Works service's tables, in schema ``public_works``."""

from sqlalchemy import Column, Date, DateTime, Table, Text, UniqueConstraint, Uuid, func

from services.runtime.tables import ServiceTables

TABLES = ServiceTables("public_works")

tickets = Table(
    "tickets",
    TABLES.metadata,
    Column("ticket_id", Uuid, primary_key=True),
    Column("household_ref", Text, nullable=False, index=True),
    Column("region_code", Text, nullable=False),
    Column("need", Text, nullable=False),
    Column("flag_event_id", Uuid, nullable=False),
    Column("status", Text, nullable=False),
    Column("due_on", Date, nullable=False),
    Column("opened_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # Dates the field system reported for each step, and why a ticket was rejected.
    Column("scheduled_on", Date),
    Column("started_on", Date),
    Column("completed_on", Date),
    Column("rejected_on", Date),
    Column("rejection_reason", Text),
    # The inbox already drops a redelivered flag; this makes a second ticket for the same
    # need of the same flag impossible even if a handler bug bypassed it.
    UniqueConstraint("flag_event_id", "need", name="one_ticket_per_need_per_flag"),
)
