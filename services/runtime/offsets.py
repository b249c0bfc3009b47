"""Committing a batch's offsets while the next batch is handled, at most every so often.

An offset commit is a round trip to the group coordinator (several ms on a busy broker)
that nothing in the next batch depends on: it may only never overtake the commit before
it. So each consumer has at most one commit in flight, started once the batch's database
commit is done and awaited before the next one starts.

Under a light load batches are small and come often, and a commit per batch made the
broker write an offset record for every handful of events. With ``min_interval`` a
consumer commits at most that often: the positions of batches finished meanwhile are
merged and committed together when the interval is up. A commit lost to a crash or a
rebalance, or not made yet, only means those records are read again, and the inbox drops
them.
"""

import asyncio
import contextlib

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError

log = structlog.get_logger()


class OffsetCommits:
    def __init__(self, min_interval: float = 0.0) -> None:
        self._min_interval = min_interval
        self._in_flight: dict[AIOKafkaConsumer, asyncio.Task[None]] = {}
        self._pending: dict[AIOKafkaConsumer, dict[TopicPartition, int]] = {}
        self._last_start: dict[AIOKafkaConsumer, float] = {}
        self._timers: dict[AIOKafkaConsumer, asyncio.Task[None]] = {}
        self._locks: dict[AIOKafkaConsumer, asyncio.Lock] = {}
        self._stopping = False

    async def commit(self, consumer: AIOKafkaConsumer, positions: dict[TopicPartition, int]
                     ) -> None:
        """Commit ``positions`` after the consumer's previous commit: now, or once the
        interval since that one is up."""
        self._pending.setdefault(consumer, {}).update(positions)
        if self._stopping:  # the consumer is about to close: finish before it does
            task = await self._start(consumer)
            if task is not None:
                await task
            return
        wait = self._last_start.get(consumer, -1e9) + self._min_interval - _now()
        if wait <= 0:
            await self._start(consumer)
        elif consumer not in self._timers:
            self._timers[consumer] = asyncio.create_task(self._later(consumer, wait))

    def resume(self) -> None:
        self._stopping = False

    async def finish(self) -> None:
        """Commit what is pending and wait for every commit in flight; later ones are
        awaited where they start."""
        self._stopping = True
        # A copy: a timer falling due while another is awaited here removes itself.
        for timer in list(self._timers.values()):
            timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await timer
        self._timers.clear()
        for consumer in list(self._pending):
            await self._start(consumer)
        while self._in_flight:
            _, task = self._in_flight.popitem()
            await task

    async def _later(self, consumer: AIOKafkaConsumer, wait: float) -> None:
        await asyncio.sleep(wait)
        del self._timers[consumer]
        await self._start(consumer)

    async def _start(self, consumer: AIOKafkaConsumer) -> asyncio.Task[None] | None:
        async with self._locks.setdefault(consumer, asyncio.Lock()):
            previous = self._in_flight.pop(consumer, None)
            if previous is not None:
                await previous
            positions = self._pending.pop(consumer, None)
            if not positions:
                return None
            self._last_start[consumer] = _now()
            task = asyncio.create_task(_commit(consumer, positions))
            self._in_flight[consumer] = task
            return task


def _now() -> float:
    return asyncio.get_running_loop().time()


async def _commit(consumer: AIOKafkaConsumer, positions: dict[TopicPartition, int]) -> None:
    try:
        await consumer.commit(positions)
    except (CommitFailedError, IllegalStateError) as exc:
        # The partitions moved to another member during a rebalance; it re-reads these
        # records and its inbox drops the copies. Nothing to do here.
        log.warning("offset_commit_skipped", error=repr(exc))
    except Exception as exc:  # broker unreachable: the next commit covers these partitions
        log.warning("offset_commit_failed", error=repr(exc))
