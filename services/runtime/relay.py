"""The outbox relay: publishes committed outbox rows in id order, then marks them sent.

A crash between publishing and marking re-publishes those rows on restart; consumers
drop the copies through their inbox, so every event has its effect exactly once.

The relay holds its lock (one relay per service) on its own connection for as long as it
runs, and marks a batch sent in the statement that picks the next one: a round is that
statement and the broker's acknowledgement, not five round trips to the database.

The outbox table decides what is published and in which order. The records themselves
usually come from memory: a unit of work hands the relay what it has just committed, so
the relay reads only the ids of unsent rows and fetches the rest (rows from before a
restart, from another process of the service) from the table.
"""

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
import structlog
from sqlalchemy import BigInteger, Text, any_, bindparam, cast, func, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.runtime.kafka import KeyHashCache
from services.runtime.tables import ServiceTables

log = structlog.get_logger()

_IDS = bindparam("ids", type_=ARRAY(BigInteger))
PRUNE_EVERY_SECONDS = 60.0
VACUUM_UNSENT_EVERY_ROWS = 10_000
"""Rows the relay takes off the unsent list between two vacuums of it (see ``_vacuum``)."""
HANDOVER_WAIT_MIN_ROWS = 200
"""A relay in a process of its own waits for records still being handed over only in a
round this large (a backlog, where reading back costs throughput); a smaller round reads
the missing ones back at once (a trickle, where waiting costs latency)."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A committed outbox row, ready to send."""

    id: int
    topic: str
    key: bytes
    headers: list[tuple[str, bytes]]
    payload: bytes


Committed = tuple[int, str, str, str, bytes]
"""An outbox row as its unit of work wrote it, handed to the relay once committed: id,
topic, key, the headers as the JSON text written to the table, payload. Five values
instead of a record's dozen: what a relay in another process is sent, pickled."""


def outgoing(row: Committed) -> Outgoing:
    """The record to send for a committed row, handed over or read back from the table."""
    id, topic, key, headers, payload = row
    return Outgoing(id, topic, key.encode(), [(name, value.encode())
                                              for name, value in orjson.loads(headers)], payload)


class Producer(Protocol):
    """What the relay needs of an ``AIOKafkaProducer``."""

    async def partitions_for(self, topic: str) -> set[int]: ...

    def create_batch(self) -> Any: ...

    async def send_batch(self, batch: Any, topic: str, *, partition: int
                         ) -> "asyncio.Future[Any]": ...


class OutboxRelay:
    def __init__(
        self,
        engine: AsyncEngine,
        tables: ServiceTables,
        producer: Producer,
        *,
        poll_seconds: float = 0.5,
        batch_size: int = 2000,
        max_ready: int = 20_000,
        keep_sent_seconds: float | None = None,
        feed: Callable[[], None] | None = None,
        vacuum_every_rows: int = VACUUM_UNSENT_EVERY_ROWS,
    ) -> None:
        """``feed``: for a relay in a process of its own, takes what the service's process
        has handed over so far (``committed`` is then called from it)."""
        self._engine = engine
        self._tables = tables
        self._producer = producer
        self._poll_seconds = poll_seconds
        self._batch_size = batch_size
        self._wake = asyncio.Event()
        self._ready: dict[int, tuple[int, Outgoing]] = {}  # id: (when kept, record)
        self._kept_calls = 0
        self.read_back = 0
        """Records published so far that had to be read back from the table."""
        self.from_memory = 0
        self._max_ready = max_ready
        self._partitioner = KeyHashCache()
        outbox, unsent = tables.outbox.fullname, tables.outbox_unsent.fullname
        self._unsent = text(f"SELECT id FROM {unsent} ORDER BY id LIMIT :limit")
        # One statement sees one snapshot: its SELECT still sees the rows it takes off the
        # unsent list, so it picks as many more and they are dropped here. (Excluding them
        # in SQL with `id <> ALL(:sent)` compared every row scanned with every id marked: a
        # round of 2 000 rows took 65-115 ms instead of ~20; an anti-join was planned as a
        # hash of every unsent row, then a sort: a cost growing with the backlog.)
        # clock_timestamp: when the broker had acknowledged them.
        self._mark_and_pick = text(
            f"WITH listed AS (DELETE FROM {unsent} WHERE id = ANY(CAST(:sent AS bigint[]))), "
            f"marked AS (UPDATE {outbox} SET sent_at = clock_timestamp() "
            "WHERE id = ANY(CAST(:sent AS bigint[]))) "
            f"SELECT id FROM {unsent} ORDER BY id "
            "LIMIT :limit + cardinality(CAST(:sent AS bigint[]))")
        self._conn: AsyncConnection | None = None  # the relay's own, holding its lock
        self._locked = False
        self._round = asyncio.Lock()
        self._next: list[int] | None = None  # picked when the last batch was marked sent
        self._keep_sent = keep_sent_seconds
        self._feed = feed
        self._first_handed = math.inf  # the lowest id committed() was given
        self._impatient_until = -math.inf
        self._pruned_at = -math.inf
        self._prune = text(f"DELETE FROM {outbox} WHERE sent_at < clock_timestamp() - "
                           "make_interval(secs => :keep)")
        self._vacuum_unsent = text(f"VACUUM (SKIP_LOCKED) {unsent}")
        self._vacuum_every_rows = vacuum_every_rows
        self._unlisted = 0  # rows taken off the unsent list since it was last vacuumed
        self.vacuums = 0

    @property
    def kept(self) -> int:
        """How many committed records wait in memory to be sent."""
        return len(self._ready)

    def committed(self, rows: Sequence[Committed]) -> None:
        """``rows`` were just committed: keep their records to send, and relay now.

        Memory is bounded: past ``max_ready`` kept records (the broker is down, say),
        the relay reads them from the table when their turn comes.
        """
        if rows:
            self._first_handed = min(self._first_handed, min(r[0] for r in rows))
        if len(self._ready) + len(rows) <= self._max_ready:
            self._kept_calls += 1
            self._ready.update((r[0], (self._kept_calls, outgoing(r))) for r in rows)
        self._wake.set()

    async def relay_batch(self) -> int:
        """Publish one batch of unsent rows; returns how many were published.

        0 also when another process's relay holds the lock: it publishes them.
        """
        async with self._holding_lock() as conn:
            if conn is None:
                return 0
            ids = self._next or await self._pick(conn, [])
            self._next = None
            if not ids:
                return 0
            if self._feed is not None:
                ids = await self._handed_over_first(ids)
            await self._publish(await self._records(conn, ids))
            self._next = await self._mark_sent_and_pick(conn, ids) or None
            self._unlisted += len(ids)
            if self._unlisted >= self._vacuum_every_rows:
                await self._vacuum(conn)
            return len(ids)

    async def _vacuum(self, conn: AsyncConnection) -> None:
        """Vacuum the unsent list: its index keeps an entry for every row taken off it until
        a vacuum, and every pick scans them from the lowest id. Autovacuum comes at most once
        a minute, and the relay picks again after each commit it is handed: after a replay
        of 50 000 households each pick read ~600 pages of dead entries (1 ms) to find
        nothing. Vacuumed, 3 pages. A vacuum of the list took 1 to 3 ms."""
        self._unlisted = 0  # a failed vacuum is not retried every round
        await conn.execute(self._vacuum_unsent)
        self.vacuums += 1

    async def prune_sent(self) -> int:
        """Delete the rows sent more than ``keep_sent_seconds`` ago; returns how many.

        For an outbox whose rows carry identity numbers (the intake API's): once on the
        intake topic they need not stay in the table too. Rows not yet sent are never
        deleted. 0 without ``keep_sent_seconds`` or while another process's relay holds
        the lock (it prunes).
        """
        if self._keep_sent is None:
            return 0
        async with self._holding_lock() as conn:
            if conn is None:
                return 0
            result = await conn.execute(self._prune, {"keep": self._keep_sent})
            return int(result.rowcount or 0)

    async def close(self) -> None:
        """Let go of the relay's connection, and with it the lock."""
        async with self._round:
            await self._release()

    @contextlib.asynccontextmanager
    async def _holding_lock(self) -> AsyncIterator[AsyncConnection | None]:
        """The relay's connection while it holds the lock (None: another process has it),
        one round at a time; a failed round lets go of both."""
        # One relay per service at a time: a second relay would publish later rows of a
        # household while the first still holds its earlier ones. The lock belongs to the
        # relay's own connection for as long as it lives (a crash closes the connection
        # and frees it), so a round costs no BEGIN, lock and COMMIT of its own; each
        # statement commits by itself.
        async with self._round:  # the relay's task and a direct call share one connection
            try:
                if self._conn is None:
                    conn = await self._engine.connect()
                    self._conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                if not self._locked:
                    self._locked = bool(await self._conn.scalar(
                        text("SELECT pg_try_advisory_lock(hashtext(:n))"),
                        {"n": f"{self._tables.schema}.outbox-relay"}))
                yield self._conn if self._locked else None
            except BaseException:
                await self._release()  # a fresh connection next time; the lock goes with it
                raise

    async def _release(self) -> None:
        conn, self._conn, self._locked, self._next = self._conn, None, False, None
        if conn is not None:
            with contextlib.suppress(Exception):  # the database may be gone already
                await conn.invalidate()  # the session ends: PostgreSQL frees its lock
            with contextlib.suppress(Exception):
                await conn.close()

    async def _pick(self, conn: AsyncConnection, sent: list[int]) -> list[int]:
        kept_before = self._kept_calls  # what was kept by now, the statement below sees
        if sent:  # marking what was just published and picking the next rows: one trip
            marked = set(sent)
            ids = [i for i in (await conn.execute(
                self._mark_and_pick, {"sent": sent, "limit": self._batch_size})).scalars()
                if i not in marked][:self._batch_size]
            for i in sent:
                self._ready.pop(i, None)
        else:
            ids = list((await conn.execute(
                self._unsent, {"limit": self._batch_size})).scalars())
        if len(ids) < self._batch_size:
            self._forget_sent_elsewhere(kept_before, ids)
        return ids

    async def _handed_over_first(self, ids: list[int], wait_seconds: float = 0.2
                                 ) -> list[int]:
        """The leading ids whose records the service's process has handed over; the rest
        wait for the next round, by when their records have come too.

        Reading a record back from the table costs ~50 µs, and a relay in a process of its
        own often picks rows before their records reach it: the service's process hands
        them over when its event loop next gets to the committed transaction, which can
        be after another lane's 50 ms of Python (half of Education's records, draining
        alone). If the first has not come, it waits up to ``wait_seconds`` for it, then
        reads them back. It does not wait for a row older than anything handed over (from
        before this process started), nor for a second after a wait in vain (rows of
        another process of the service never come).
        """
        assert self._feed is not None
        self._feed()
        if len(ids) < HANDOVER_WAIT_MIN_ROWS:
            return ids
        loop = asyncio.get_running_loop()
        if (ids[0] not in self._ready and ids[0] > self._first_handed
                and loop.time() > self._impatient_until):
            deadline = loop.time() + wait_seconds
            while ids[0] not in self._ready and loop.time() < deadline:
                await asyncio.sleep(0.001)
                self._feed()
            if ids[0] not in self._ready:
                self._impatient_until = loop.time() + 1.0
        handed = next((n for n, i in enumerate(ids) if i not in self._ready), len(ids))
        return ids[:handed] if handed else ids  # none handed: read them back

    def _forget_sent_elsewhere(self, kept_before: int, ids: list[int]) -> None:
        # Caught up (the query found fewer rows than it may pick): a record kept before the
        # query and not picked was sent already, by a relay in another process. While the
        # relay is behind they wait: looking at every kept record on every batch made the
        # relay slower the further behind it was.
        picked = set(ids)
        for i in [i for i, (when, _) in self._ready.items()
                  if when <= kept_before and i not in picked]:
            del self._ready[i]

    async def _records(self, conn: AsyncConnection, ids: list[int]) -> list[Outgoing]:
        fetched = {i: self._ready[i][1] for i in ids if i in self._ready}
        missing = [i for i in ids if i not in fetched]
        self.read_back += len(missing)
        self.from_memory += len(fetched)
        if missing:
            outbox = self._tables.outbox
            rows = await conn.execute(
                select(outbox.c.id, outbox.c.topic, outbox.c.key, cast(outbox.c.headers, Text),
                       outbox.c.payload).where(outbox.c.id == any_(_IDS)), {"ids": missing})
            fetched.update((r[0], outgoing(tuple(r))) for r in rows)
            if gone := [i for i in missing if i not in fetched]:
                # Listed as unsent but deleted from the outbox by hand: nothing to send.
                # Marking them sent takes them off the list rather than failing every round.
                log.warning("outbox_rows_missing", ids=gone[:20], count=len(gone))
        return [fetched[i] for i in ids if i in fetched]

    async def _publish(self, records: Sequence[Outgoing]) -> None:
        # Records are appended in id order to one chain of batches per partition, and the
        # batches sent together: per-partition order is kept (the idempotent producer
        # keeps it across retries), and a record costs an append (about 1 µs) instead of
        # a send (tens of µs: a future, a partition lookup, an accumulator visit each).
        partitions: dict[str, list[int]] = {}
        chains: dict[tuple[str, int], list[Any]] = {}
        for r in records:
            if r.topic not in partitions:
                partitions[r.topic] = sorted(await self._producer.partitions_for(r.topic))
            known = partitions[r.topic]
            chain = chains.setdefault((r.topic, self._partitioner(r.key, known, known)), [])
            if not chain or chain[-1].append(timestamp=None, key=r.key, value=r.payload,
                                              headers=r.headers) is None:
                chain.append(self._producer.create_batch())  # an empty batch takes any record
                chain[-1].append(timestamp=None, key=r.key, value=r.payload, headers=r.headers)
        futures = []
        for (topic, partition), chain in chains.items():
            for batch in chain:
                batch.close()  # complete: sent now, not after the producer's linger
                futures.append(await self._producer.send_batch(batch, topic, partition=partition))
        await asyncio.gather(*futures)

    async def _mark_sent_and_pick(self, conn: AsyncConnection, ids: list[int]) -> list[int]:
        """Mark ``ids`` sent (the broker has acknowledged them); returns the next rows."""
        return await self._pick(conn, ids)

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until ``stop`` is set; transient failures are logged and retried.

        Woken by ``wake`` when this process commits outbox rows; the poll catches rows
        committed by other processes of the same service.
        """
        stopper = asyncio.create_task(self._wake_when(stop))
        backoff = 0.1
        try:
            while not stop.is_set():
                self._wake.clear()
                try:
                    published = await self.relay_batch()
                except Exception as exc:  # broker or database down: retry, losing nothing
                    log.warning("outbox_relay_retry", error=repr(exc), retry_in=backoff)
                    await self._pause(backoff, stop)
                    backoff = min(backoff * 2, 5.0)
                    continue
                backoff = 0.1
                await self._prune_now_and_then()
                if published < self._batch_size and not self._next:
                    try:
                        await asyncio.wait_for(self._wake.wait(), timeout=self._poll_seconds)
                    except TimeoutError:
                        pass
        finally:
            stopper.cancel()
            await self.close()

    async def _prune_now_and_then(self) -> None:
        now = asyncio.get_running_loop().time()
        if self._keep_sent is None or now - self._pruned_at < PRUNE_EVERY_SECONDS:
            return
        self._pruned_at = now
        try:
            if pruned := await self.prune_sent():
                log.info("outbox_pruned", rows=pruned, kept_seconds=self._keep_sent)
        except Exception as exc:  # tried again at the next interval
            log.warning("outbox_prune_failed", error=repr(exc))

    async def _wake_when(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._wake.set()

    @staticmethod
    async def _pause(seconds: float, stop: asyncio.Event) -> None:
        # After a failure, a wake-up must not cut the backoff short: the outage goes on.
        try:
            await asyncio.wait_for(stop.wait(), timeout=seconds)
        except TimeoutError:
            pass

    async def backlog(self) -> int:
        async with self._engine.connect() as conn:
            count = await conn.scalar(select(func.count()).select_from(self._tables.outbox_unsent))
        return int(count or 0)
