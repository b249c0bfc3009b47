"""Watching the pipeline from outside: group lag, unsent outbox rows, committed work.

Times of committed work come from the database (``inbox.processed_at``, ``outbox.sent_at``,
``timeline.entries.recorded_at``), so a phase's window ends when its last effect was
committed, however late the bench notices. Polling only decides when to stop waiting.
"""

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.demo.records import partitions_of
from services.runtime.service import ServiceDefinition


@dataclass(frozen=True)
class Work:
    """What one service committed since a point in time (database clock)."""

    consumed: int
    """Inbox rows: records handled to the end, each in its own committed transaction."""
    produced: int
    """Outbox rows written."""
    first: datetime | None
    last: datetime | None
    """Latest of: a batch's start (inbox), a relay's publish (outbox), a timeline entry."""

    def seconds(self) -> float:
        if self.first is None or self.last is None:
            return 0.0
        return max((self.last - self.first).total_seconds(), 1e-6)


class Meter:
    """One admin client and one consumer kept open, so polling stays cheap."""

    def __init__(self, bootstrap: str, engine: AsyncEngine) -> None:
        self._bootstrap = bootstrap
        self._engine = engine
        self._admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
        self._partitions: dict[str, list[TopicPartition]] = {}

    async def start(self) -> None:
        await self._admin.start()
        await self._consumer.start()

    async def stop(self) -> None:
        await self._consumer.stop()
        await self._admin.close()

    async def _parts(self, topics: tuple[str, ...]) -> list[TopicPartition]:
        missing = [t for t in topics if t not in self._partitions]
        for tp in await partitions_of(self._bootstrap, missing) if missing else []:
            self._partitions.setdefault(tp.topic, []).append(tp)
        return [tp for t in topics for tp in self._partitions[t]]

    async def behind(self, definitions: list[ServiceDefinition]) -> int:
        """Records on the services' topics that their groups have not committed."""
        subs = [sub for d in definitions for sub in d.subscriptions]
        parts = {sub.name: await self._parts(sub.topics) for sub in subs}
        ends = await self._consumer.end_offsets(list({tp for p in parts.values() for tp in p}))
        total = 0
        for sub in subs:
            done = await self._admin.list_consumer_group_offsets(sub.name,
                                                                 partitions=parts[sub.name])
            for tp in parts[sub.name]:
                meta = done.get(tp)
                total += max(0, ends[tp] - (meta.offset if meta and meta.offset >= 0 else 0))
        return total

    async def unsent(self, definitions: list[ServiceDefinition]) -> int:
        async with self._engine.connect() as conn:
            total = 0
            for d in definitions:
                total += int(await conn.scalar(
                    select(func.count()).select_from(d.tables.outbox_unsent)) or 0)
            return total

    async def drained(self, definitions: list[ServiceDefinition], within: float,
                      alive: Callable[[], None] | None = None, every: float = 0.5) -> float:
        """Wait until nothing is behind or unsent, twice in a row; returns seconds waited."""
        began = time.monotonic()
        quiet = 0
        while quiet < 2:
            if alive is not None:
                alive()
            try:
                behind = await self.behind(definitions)
            except KafkaError:  # e.g. a fresh broker's group coordinator is not ready yet
                behind = -1
            quiet = quiet + 1 if behind == 0 and await self.unsent(definitions) == 0 else 0
            if time.monotonic() - began > within:
                raise TimeoutError(f"not drained after {within:.0f}s: {behind} records behind")
            if quiet < 2:
                await asyncio.sleep(every)
        return time.monotonic() - began

    async def work(self, definition: ServiceDefinition, since: datetime) -> Work:
        inbox, outbox = definition.tables.inbox, definition.tables.outbox
        async with self._engine.connect() as conn:
            consumed, first, last_in = (await conn.execute(
                select(func.count(), func.min(inbox.c.processed_at),
                       func.max(inbox.c.processed_at)).where(inbox.c.processed_at >= since)
            )).one()
            produced, last_out = (await conn.execute(
                select(func.count(), func.max(outbox.c.sent_at))
                .where(outbox.c.created_at >= since)
            )).one()
            # A batch's inbox rows carry its transaction's start; the timeline's entries
            # are stamped as they are written, just before the commit.
            last_entry = (await conn.scalar(
                text("SELECT max(recorded_at) FROM timeline.entries WHERE recorded_at >= :s"),
                {"s": since}) if definition.name == "timeline" else None)
        last = max((t for t in (last_in, last_out, last_entry) if t is not None), default=None)
        return Work(int(consumed), int(produced), first, last)

    async def db_now(self) -> datetime:
        async with self._engine.connect() as conn:
            return (await conn.execute(text("SELECT clock_timestamp()"))).scalar_one()

    async def clock_offset(self) -> float:
        """Database clock minus this machine's clock, in seconds (RTT-corrected)."""
        best = (float("inf"), 0.0)
        for _ in range(5):
            before = time.time()
            db = (await self.db_now()).timestamp()
            after = time.time()
            best = min(best, (after - before, db - (before + after) / 2))
        return best[1]



def peak_rss_kib(pid: int) -> int | None:
    """VmHWM of a live process: its peak resident memory so far, in KiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None
