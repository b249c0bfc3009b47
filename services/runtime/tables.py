"""The outbox and inbox tables every service keeps in its own schema."""

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    LargeBinary,
    MetaData,
    Table,
    Text,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB


def outbox_table(metadata: MetaData) -> Table:
    table = Table(
        "outbox",
        metadata,
        Column("id", BigInteger, Identity(), primary_key=True),
        Column("event_id", Uuid, nullable=False, unique=True),
        Column("topic", Text, nullable=False),
        Column("key", Text, nullable=False),
        Column("headers", JSONB, nullable=False),
        Column("payload", LargeBinary, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("sent_at", DateTime(timezone=True)),
    )
    Index(f"{metadata.schema}_outbox_unsent", table.c.id, postgresql_where=text("sent_at IS NULL"))
    return table


def inbox_table(metadata: MetaData) -> Table:
    """Ids of events a consumer has had its effect for, written in the effect's transaction."""
    return Table(
        "inbox",
        metadata,
        Column("consumer", Text, primary_key=True),
        Column("event_id", Uuid, primary_key=True),
        Column("processed_at", DateTime(timezone=True), nullable=False,
               server_default=func.now()),
    )


class ServiceTables:
    """A service's metadata bound to its schema, with the runtime's tables in it."""

    def __init__(self, schema: str) -> None:
        self.schema = schema
        self.metadata = MetaData(schema=schema)
        self.outbox = outbox_table(self.metadata)
        self.inbox = inbox_table(self.metadata)
