"""The outbox relay: publishes committed outbox rows in id order, then marks them sent.

A crash between publishing and marking re-publishes those rows on restart; consumers
drop the copies through their inbox, so every event has its effect exactly once.
"""

import asyncio
from collections.abc import Sequence
from typing import Any, Protocol

import structlog
from sqlalchemy import BigInteger, any_, bindparam, func, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.runtime.tables import ServiceTables

log = structlog.get_logger()

_IDS = bindparam("ids", type_=ARRAY(BigInteger))


class Producer(Protocol):
    async def send(
        self, topic: str, value: bytes, key: bytes, headers: list[tuple[str, bytes]]
    ) -> "asyncio.Future[Any]": ...


class OutboxRelay:
    def __init__(
        self,
        engine: AsyncEngine,
        tables: ServiceTables,
        producer: Producer,
        *,
        poll_seconds: float = 0.5,
        batch_size: int = 500,
    ) -> None:
        self._engine = engine
        self._tables = tables
        self._producer = producer
        self._poll_seconds = poll_seconds
        self._batch_size = batch_size
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Rows were just committed: relay now rather than at the next poll."""
        self._wake.set()

    async def relay_batch(self) -> int:
        """Publish one batch of unsent rows; returns how many were published."""
        outbox = self._tables.outbox
        async with self._engine.begin() as conn:
            # One relay per service at a time: a second relay would publish later rows of
            # a household while the first still holds its earlier ones.
            got = await conn.scalar(
                text("SELECT pg_try_advisory_xact_lock(hashtext(:n))"),
                {"n": f"{self._tables.schema}.outbox-relay"},
            )
            if not got:
                return 0
            rows = (
                await conn.execute(
                    select(outbox.c.id, outbox.c.topic, outbox.c.key, outbox.c.headers,
                           outbox.c.payload)
                    .where(outbox.c.sent_at.is_(None))
                    .order_by(outbox.c.id)
                    .limit(self._batch_size)
                )
            ).all()
            if not rows:
                return 0
            await self._publish(rows)
            await self._mark_sent(conn, [r.id for r in rows])
        return len(rows)

    async def _publish(self, rows: Sequence[Any]) -> None:
        # Sends are queued in id order and awaited together: the idempotent producer keeps
        # per-partition order while batching many records into one request.
        futures = [
            await self._producer.send(
                row.topic, value=row.payload, key=row.key.encode(),
                headers=[(k, v.encode()) for k, v in row.headers],
            )
            for row in rows
        ]
        await asyncio.gather(*futures)

    async def _mark_sent(self, conn: AsyncConnection, ids: list[int]) -> None:
        outbox = self._tables.outbox
        # clock_timestamp: the moment the broker had acknowledged them, not the batch's start.
        await conn.execute(outbox.update().where(outbox.c.id == any_(_IDS))
                           .values(sent_at=func.clock_timestamp()), {"ids": ids})

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
                if published < self._batch_size:
                    try:
                        await asyncio.wait_for(self._wake.wait(), timeout=self._poll_seconds)
                    except TimeoutError:
                        pass
        finally:
            stopper.cancel()

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
        outbox = self._tables.outbox
        async with self._engine.connect() as conn:
            count = await conn.scalar(
                select(func.count()).select_from(outbox).where(outbox.c.sent_at.is_(None))
            )
        return int(count or 0)
