"""The social service's tables, in schema ``social``. Pseudonymous refs and keyed hashes only:
no NIK or KK."""

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Text,
    Uuid,
    func,
    text,
)
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
    Column("grant_eligible_on", Date),
    Column("graduated_on", Date),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

def _household() -> ForeignKey:
    return ForeignKey("social.households.household_ref")

household_needs = _Table(
    "household_needs",
    TABLES.metadata,
    Column("household_ref", Text, _household(), primary_key=True),
    Column("need", Text, primary_key=True),
    Column("status", Text, nullable=False),  # graduation.NeedStatus
    Column("ticket_id", Uuid, unique=True),
    Column("rejection_reason", Text),
    Column("resolved_on", Date),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

income_reports = _Table(
    "income_reports",
    TABLES.metadata,
    Column("household_ref", Text, _household(), primary_key=True),
    # One report per date: a second one for the same date corrects the first.
    Column("reported_on", Date, primary_key=True),
    Column("monthly_income", BigInteger, nullable=False),
    Column("event_id", Uuid, nullable=False),
)

referred_children = _Table(
    "referred_children",
    TABLES.metadata,
    Column("household_ref", Text, _household(), primary_key=True),
    Column("person_ref", Text, primary_key=True),
    Column("referred_on", Date, nullable=False),
    # Dinsos's order of referrals (store.children_at_risk); clock_timestamp, not the
    # transaction's start, so two in one batch keep their order.
    Column("referred_at", DateTime(timezone=True), nullable=False,
           server_default=text("clock_timestamp()")),
    Index("social_referred_children_by_person", "person_ref"),
)

dropout_risks = _Table(
    "dropout_risks",
    TABLES.metadata,
    Column("risk_event_id", Uuid, primary_key=True),
    Column("household_ref", Text, _household(), nullable=False),
    Column("person_ref", Text, nullable=False),
    Column("follow_up_event_id", Uuid, nullable=False),
    Column("reengaged_event_id", Uuid),
    Index("social_open_dropout_risks", "household_ref", "person_ref"),
    Index("social_open_dropout_risks_by_person", "person_ref",
          postgresql_where=text("reengaged_event_id IS NULL")),
)

grants = _Table(
    "grants",
    TABLES.metadata,
    Column("event_id", Uuid, primary_key=True),
    Column("household_ref", Text, _household(), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("business_type", Text, nullable=False),
    Column("mentor", Text, nullable=False),
    Column("awarded_on", Date, nullable=False),
    Index("social_grants_by_household", "household_ref"),
)

mentoring_visits = _Table(
    "mentoring_visits",
    TABLES.metadata,
    Column("event_id", Uuid, primary_key=True),
    Column("household_ref", Text, _household(), nullable=False),
    Column("business_status", Text, nullable=False),
    Column("monthly_revenue", BigInteger, nullable=False),
    Column("visited_on", Date, nullable=False),
    Index("social_visits_by_household", "household_ref"),
)

# A hash of each KK/NIK under a pseudonym key -> the ref minted for it (pseudonym.py).
pseudonyms = _Table(
    "pseudonyms",
    TABLES.metadata,
    Column("lookup_hash", Text, primary_key=True),
    Column("kind", Text, nullable=False),  # pseudonym.Kind
    Column("ref", Text, nullable=False),
    Column("key_fingerprint", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("social_pseudonyms_by_key", "key_fingerprint"),
)
