"""The timeline projection, in schema ``timeline``."""

from sqlalchemy import Column, DateTime, Index, Table, Text, Uuid, func
from sqlalchemy.dialects.postgresql import JSONB

from services.runtime.tables import ServiceTables

TABLES = ServiceTables("timeline")

entries = Table(
    "entries",
    TABLES.metadata,
    Column("event_id", Uuid, primary_key=True),
    Column("household_ref", Text, nullable=False),
    Column("correlation_id", Text, nullable=False),
    Column("causation_id", Uuid),
    Column("agency", Text, nullable=False),
    Column("type", Text, nullable=False),
    Column("time", DateTime(timezone=True), nullable=False),
    Column("summary", Text, nullable=False),
    Column("region_code", Text),
    Column("data", JSONB, nullable=False, server_default="{}"),
    Column("recorded_at", DateTime(timezone=True), nullable=False,
           server_default=func.clock_timestamp()),
)
Index("timeline_entries_by_household", entries.c.household_ref, entries.c.time, entries.c.event_id)
