"""The Education service's tables, in schema ``education``."""

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    Numeric,
    Table,
    Text,
    Uuid,
    false,
    func,
)

from services.runtime.tables import ServiceTables

TABLES = ServiceTables("education")

pupils = Table(
    "pupils",
    TABLES.metadata,
    # One enrolment per child: a re-referral finds the row and enrols nothing new.
    Column("person_ref", Text, primary_key=True),
    Column("household_ref", Text, nullable=False, index=True),
    Column("region_code", Text, nullable=False),
    Column("level", Text, nullable=False),
    Column("referral_event_id", Uuid, nullable=False),
    Column("at_risk", Boolean, nullable=False, server_default=false()),
    Column("risk_event_id", Uuid),
    Column("enrolled_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

attendance = Table(
    "attendance",
    TABLES.metadata,
    Column("person_ref", Text, ForeignKey("education.pupils.person_ref"), primary_key=True),
    Column("month", Text, primary_key=True),
    Column("school_days", Integer, nullable=False),
    Column("days_present", Integer, nullable=False),
    Column("attendance_pct", Numeric(4, 1), nullable=False),
    Column("report_event_id", Uuid, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
