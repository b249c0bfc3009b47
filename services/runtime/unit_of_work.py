"""The unit of work: one transaction holding a service's state change, its outbox rows
and the inbox record of the event that caused them, so they commit together or not at all.
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self
from uuid import UUID

import orjson
from sqlalchemy import Row, Table
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from contracts.base import Contract
from contracts.catalogue import spec_for
from contracts.codec import payload_of
from contracts.envelope import check_emitted, header_pairs
from contracts.ids import new_event_id
from services.runtime.bulk import (
    REDELIVERED,
    JsonText,
    Part,
    column_arrays,
    commit_statement,
    insert_statement,
    inserts_parameters,
)
from services.runtime.relay import Committed
from services.runtime.tables import ServiceTables


class AlreadyHandled(Exception):
    """A claim made at commit found an event already handled: nothing was committed."""


class UnitOfWork:
    def __init__(self, engine: AsyncEngine, tables: ServiceTables, source: str) -> None:
        self._engine = engine
        self._tables = tables
        self.source = source
        self._conn: AsyncConnection | None = None
        self._locked_keys: set[str] = set()
        self._pending: list[dict[str, Any]] = []
        self._deferred: dict[tuple[Table, tuple[str, ...], str], list[dict[str, Any]]] = {}
        self.emitted: list[UUID] = []
        """The ids of the events emitted, in order."""
        self.outgoing: list[Committed] = []
        """The outbox rows written, as the relay is handed them (once committed)."""
        self._claim: tuple[str, list[UUID]] | None = None
        self.memo: dict[Any, Any] = {}
        """Scratch space for this transaction: what a subscription's ``prepare`` read."""

    @property
    def conn(self) -> AsyncConnection:
        if self._conn is None:
            raise RuntimeError("unit of work used outside 'async with'")
        return self._conn

    async def __aenter__(self) -> Self:
        # The transaction begins with the first statement (SQLAlchemy's autobegin), so a
        # unit of work that only writes can commit without one (``commit``).
        self._conn = await self._engine.connect()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._conn is not None and self._conn.in_transaction():
                await self._conn.rollback()
        finally:
            await self.conn.close()
            self._conn = None

    async def commit(self) -> None:
        conn = self.conn
        if conn.in_transaction():
            await self.flush()
            await conn.commit()
            return
        # Nothing read or written before: the writes are the one statement of ``flush``,
        # atomic on its own, so it runs without BEGIN and COMMIT. For a batch of a service
        # that only writes (the timeline's entries, Public Works' new tickets) that is one
        # round trip instead of three.
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await self.flush()

    async def claim(self, consumer: str, event_id: UUID) -> bool:
        """Record that ``consumer`` handles ``event_id``; False if it already had its effect."""
        return event_id in await self.claim_many(consumer, [event_id])

    async def claim_many(self, consumer: str, event_ids: Sequence[UUID]) -> set[UUID]:
        """Record that ``consumer`` handles these events; returns the ids not seen before."""
        rows = await self.insert(
            self._tables.inbox, [dict(consumer=consumer, event_id=i) for i in event_ids],
            "ON CONFLICT DO NOTHING", returning="event_id")
        return {row[0] for row in rows}

    def claim_at_commit(self, consumer: str, event_ids: Sequence[UUID]) -> None:
        """Claim these events in the commit's own statement rather than before handling
        them (a round trip less when, as almost always, none was handled before).

        If any had been, ``commit`` raises ``AlreadyHandled`` and commits nothing: the
        caller handles them again, claiming first. The ids must be distinct.
        """
        self._claim = (consumer, list(event_ids))

    async def emit(
        self,
        data: Contract,
        *,
        subject: str,
        correlationid: str,
        causationid: UUID | None,
        time: datetime | None = None,
    ) -> UUID:
        """Write an event to the outbox; the relay publishes it once this transaction commits.
        Returns the event's id (a later event's ``causationid``).

        The key is the subject (the household ref), so one household's events share a
        partition and keep their order.
        """
        spec = spec_for(type(data))
        time = time or datetime.now(UTC)
        # The envelope's headers are built from values checked here, not through an
        # Envelope model: validating one cost more than the rest of an emit together.
        check_emitted(source=self.source, subject=subject, correlationid=correlationid,
                      time=time, causationid=causationid)
        event_id = new_event_id()
        pairs = header_pairs(id=event_id, type=spec.type, source=self.source, subject=subject,
                             correlationid=correlationid, time=time, causationid=causationid)
        self._pending.append(dict(
            event_id=event_id, topic=spec.topic, key=subject,
            headers=JsonText(orjson.dumps(pairs).decode()), payload=payload_of(data)))
        self.emitted.append(event_id)
        return event_id

    def add(self, table: Table, row: dict[str, Any], on_conflict: str = "") -> None:
        """Insert ``row`` at commit, with the other rows added (to any table): one statement.

        For rows nothing reads back in this transaction (a timeline entry, a new ticket):
        a batch's rows then cost one round trip instead of one each. ``on_conflict`` as
        for ``insert``.
        """
        self._deferred.setdefault((table, tuple(row), on_conflict), []).append(row)

    async def insert(self, table: Table, rows: Sequence[dict[str, Any]],
                     on_conflict: str = "", returning: str = "") -> Sequence[Row[Any]]:
        """Insert ``rows`` now, in one statement; ``on_conflict`` is an ``ON CONFLICT …``
        clause (an upsert's may not meet the same key twice in ``rows``), ``returning``
        the columns to return of the rows inserted."""
        if not rows:
            return []
        columns = tuple(rows[0])
        result = await self.conn.execute(
            insert_statement(table, columns, on_conflict, returning),
            column_arrays(table, columns, rows))
        return result.all() if returning else []

    async def flush(self) -> None:
        """Write the added rows, then the events emitted so far (``commit`` does it too):
        one statement, with the inbox claim and the locks the outbox rows need (see
        ``claim_at_commit``, ``_keys_to_lock``)."""
        deferred, self._deferred = self._deferred, {}
        pending, self._pending = self._pending, []
        claim, self._claim = self._claim, None
        parts: list[tuple[Part, Sequence[dict[str, Any]]]] = [
            ((table, columns, on_conflict), rows)
            for (table, columns, on_conflict), rows in deferred.items()]
        if not (parts or claim or pending):
            return
        written_parts = tuple(part for part, _ in parts)
        claim_part: Part | None = None
        if claim is not None:
            consumer, event_ids = claim
            claim_part = (self._tables.inbox, ("consumer", "event_id"), "ON CONFLICT DO NOTHING")
            parts.append((claim_part, [dict(consumer=consumer, event_id=i) for i in event_ids]))
        outbox_part: Part | None = None
        locks: dict[str, Any] = {}
        if pending:
            outbox_part = (self._tables.outbox, tuple(pending[0]), "")
            parts.append((outbox_part, pending))
            locks = {"lock_ns": self._tables.schema,
                     "lock_keys": self._keys_to_lock({row["key"] for row in pending})}
        # Ids are allocated in row order: the order the handlers emitted the events.
        expected = {"claim_expected": len(event_ids)} if claim is not None else {}
        try:
            result = await self.conn.execute(
                commit_statement(written_parts, claim_part, outbox_part,
                                 self._tables.outbox_unsent),
                {**inserts_parameters(parts), **locks, **expected})
        except DBAPIError as exc:
            # The database's own message (str(exc) also holds the statement, marker and all).
            if claim is not None and REDELIVERED in str(exc.orig):
                raise AlreadyHandled(f"some of {len(event_ids)} events already handled by "
                                     f"{consumer}") from None
            raise
        if claim is None and not pending:
            return
        written = result.all()
        # The ids, sorted, are the rows' in emit order (see above): no event id to match them
        # by, which cost the decoding and hashing of a UUID a row.
        ids = sorted(i for i, _ in written if i is not None)
        self.outgoing.extend(
            (i, row["topic"], row["key"], str(row["headers"]), row["payload"])
            for i, row in zip(ids, pending, strict=True))  # str: not pickled as a JsonText

    def _keys_to_lock(self, keys: set[str]) -> list[str]:
        # Outbox ids come from a sequence, allocated at insert but visible only at commit.
        # Two transactions writing the same key could commit in the opposite order of
        # their ids, and the relay (which publishes in id order) would reorder that
        # household's events. Holding a per-key lock from before the insert until commit
        # makes id order and commit order agree for each key. The locks are taken in the
        # insert's statement, before its rows, in sorted order, so two transactions
        # sharing keys cannot deadlock here.
        new = sorted(keys - self._locked_keys)
        self._locked_keys.update(new)
        return new
