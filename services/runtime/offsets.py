"""Committing a batch's offsets while the next batch is handled.

An offset commit is a round trip to the group coordinator (several ms on a busy broker)
that nothing in the next batch depends on: it may only never overtake the commit before
it. So each consumer has at most one commit in flight, started once the batch's database
commit is done and awaited before the next one starts. A commit lost to a crash or a
rebalance only means those records are read again, and the inbox drops them.
"""

import asyncio

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError

log = structlog.get_logger()


class OffsetCommits:
    def __init__(self) -> None:
        self._in_flight: dict[AIOKafkaConsumer, asyncio.Task[None]] = {}
        self._stopping = False

    async def commit(self, consumer: AIOKafkaConsumer, positions: dict[TopicPartition, int]
                     ) -> None:
        """Start committing ``positions`` once the consumer's previous commit is done."""
        previous = self._in_flight.pop(consumer, None)
        if previous is not None:
            await previous
        task = asyncio.create_task(_commit(consumer, positions))
        if self._stopping:  # the consumer is about to close: finish before it does
            await task
        else:
            self._in_flight[consumer] = task

    def resume(self) -> None:
        self._stopping = False

    async def finish(self) -> None:
        """Wait for every commit in flight; later ones are awaited where they start."""
        self._stopping = True
        while self._in_flight:
            _, task = self._in_flight.popitem()
            await task


async def _commit(consumer: AIOKafkaConsumer, positions: dict[TopicPartition, int]) -> None:
    try:
        await consumer.commit(positions)
    except (CommitFailedError, IllegalStateError) as exc:
        # The partitions moved to another member during a rebalance; it re-reads these
        # records and its inbox drops the copies. Nothing to do here.
        log.warning("offset_commit_skipped", error=repr(exc))
    except Exception as exc:  # broker unreachable: the next commit covers these partitions
        log.warning("offset_commit_failed", error=repr(exc))
