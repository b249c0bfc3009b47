"""The social service's tables, in schema ``social``."""

from sqlalchemy import Column, Date, DateTime, Integer, Text, func
from sqlalchemy import Table as _Table
from sqlalchemy.dialects.postgresql import JSONB

from services.runtime.tables import ServiceTables

TABLES = ServiceTables("social")

households = _Table(
    "households",
    TABLES.metadata,
    Column("household_ref", Text, primary_key=True),
    Column("region_code", Text, nullable=False),
    Column("village", Text, nullable=False),
    Column("member_count", Integer, nullable=False),
    Column("monthly_income", Integer, nullable=False),
    Column("registered_on", Date, nullable=False),
    Column("assessed_on", Date, nullable=False),
    Column("flagged_needs", JSONB, nullable=False, server_default="[]"),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
