"""The outbox and inbox tables every service keeps in its own schema."""

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    LargeBinary,
    MetaData,
    Table,
    Text,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

OUTBOX_FILLFACTOR = 50
"""Half of each outbox page left free at insert: the row's mark-sent fits on its own page,
a HOT update (no index entries, a few bytes of WAL) instead of a new copy of the row."""


def outbox_table(metadata: MetaData) -> Table:
    return Table(
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
        postgresql_with={"fillfactor": OUTBOX_FILLFACTOR},
    )


def outbox_unsent_table(metadata: MetaData) -> Table:
    """The ids of outbox rows not yet sent: written with the row, deleted as it is marked sent.

    Why a table and not a partial index ``WHERE sent_at IS NULL``: a column in an index's
    predicate makes every update of it a full new copy of the row, with new entries in each
    of the outbox's indexes. Listed here, marking a row sent is a HOT update of the row and
    a delete of a narrow one: 10 → 3 µs of PostgreSQL's time a row, for 1 µs more at insert
    (bench/README, findings).
    """
    return Table(
        "outbox_unsent",
        metadata,
        Column("id", BigInteger, primary_key=True),
    )


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
        self.outbox_unsent = outbox_unsent_table(self.metadata)
        self.inbox = inbox_table(self.metadata)
