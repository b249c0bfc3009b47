"""A batch's offset commit overlaps the next batch, never overtakes the one before it, and
batches finished within the interval are committed together."""

import asyncio

import pytest
import structlog.testing
from aiokafka import TopicPartition
from aiokafka.errors import CommitFailedError

from services.runtime.offsets import OffsetCommits

pytestmark = pytest.mark.unit

TP = TopicPartition("sinergi.social.housing", 0)


class SlowConsumer:
    """Each commit waits until the test lets it finish."""

    def __init__(self, fail: bool = False) -> None:
        self.started: list[int] = []
        self.done: list[int] = []
        self.release = asyncio.Event()
        self.began = asyncio.Event()
        self.fail = fail

    async def commit(self, positions: dict[TopicPartition, int]) -> None:
        self.started.append(positions[TP])
        self.began.set()
        await self.release.wait()
        if self.fail:
            raise CommitFailedError("rebalanced")
        self.done.append(positions[TP])


async def test_the_handler_goes_on_while_its_commit_is_in_flight() -> None:
    consumer, offsets = SlowConsumer(), OffsetCommits()
    await offsets.commit(consumer, {TP: 10})  # type: ignore[arg-type]
    await consumer.began.wait()  # the commit is in flight; the handler got control back
    assert consumer.started == [10] and consumer.done == []
    consumer.release.set()
    await offsets.finish()
    assert consumer.done == [10]


async def test_a_commit_starts_only_after_the_previous_one_finished() -> None:
    consumer, offsets = SlowConsumer(), OffsetCommits()
    await offsets.commit(consumer, {TP: 10})  # type: ignore[arg-type]
    second = asyncio.create_task(offsets.commit(consumer, {TP: 20}))  # type: ignore[arg-type]
    for _ in range(5):  # let the second commit run as far as it can
        await asyncio.sleep(0)
    assert consumer.started == [10] and not second.done()
    consumer.release.set()
    await second
    await offsets.finish()
    assert consumer.done == [10, 20]


async def test_after_finish_a_commit_completes_before_the_handler_returns() -> None:
    consumer, offsets = SlowConsumer(), OffsetCommits()
    consumer.release.set()
    await offsets.finish()
    await offsets.commit(consumer, {TP: 30})  # type: ignore[arg-type]
    assert consumer.done == [30]


async def test_a_refused_commit_is_logged_not_raised() -> None:
    consumer, offsets = SlowConsumer(fail=True), OffsetCommits()
    consumer.release.set()
    with structlog.testing.capture_logs() as logged:
        await offsets.commit(consumer, {TP: 40})  # type: ignore[arg-type]
        await offsets.finish()
    assert consumer.started == [40] and consumer.done == []
    assert [e["event"] for e in logged] == ["offset_commit_skipped"]
    assert "rebalanced" in logged[0]["error"]


class RecordingConsumer:
    """Commits at once; ``committed`` is set on every commit."""

    def __init__(self) -> None:
        self.done: list[int] = []
        self.committed = asyncio.Event()

    async def commit(self, positions: dict[TopicPartition, int]) -> None:
        self.done.append(positions[TP])
        self.committed.set()


async def test_batches_finished_within_the_interval_are_committed_together() -> None:
    consumer, offsets = RecordingConsumer(), OffsetCommits(min_interval=60.0)
    for position in (10, 20, 30):
        await offsets.commit(consumer, {TP: position})  # type: ignore[arg-type]
    await consumer.committed.wait()  # the first commit
    assert consumer.done == [10]  # the others wait for the interval
    await offsets.finish()
    assert consumer.done == [10, 30]


async def test_merged_positions_are_committed_when_the_interval_is_up_without_another_batch(
) -> None:
    consumer, offsets = RecordingConsumer(), OffsetCommits(min_interval=0.05)
    await offsets.commit(consumer, {TP: 10})  # type: ignore[arg-type]
    await consumer.committed.wait()
    consumer.committed.clear()
    await offsets.commit(consumer, {TP: 20})  # type: ignore[arg-type]
    await offsets.commit(consumer, {TP: 25})  # type: ignore[arg-type]
    await asyncio.wait_for(consumer.committed.wait(), timeout=5)
    assert consumer.done == [10, 25]
    await offsets.finish()
    assert consumer.done == [10, 25]


class QuickConsumer:
    def __init__(self) -> None:
        self.done: list[int] = []

    async def commit(self, positions: dict[TopicPartition, int]) -> None:
        self.done.append(positions[TP])


async def test_a_timer_falling_due_while_finish_cancels_another_still_commits() -> None:
    # Stopping, finish() cancels each consumer's timer and awaits it; meanwhile another
    # consumer's timer fell due and removed itself from the timers being walked.
    offsets = OffsetCommits(min_interval=60.0)
    waiting, due = QuickConsumer(), QuickConsumer()
    for consumer, first, later in ((waiting, 1, 2), (due, 10, 11)):
        await offsets.commit(consumer, {TP: first})  # type: ignore[arg-type]
        await offsets.commit(consumer, {TP: later})  # type: ignore[arg-type]
    offsets._timers[due].cancel()  # its interval is up: it commits as soon as it runs
    offsets._timers[due] = asyncio.create_task(offsets._later(due, 0))  # type: ignore[index]
    await asyncio.sleep(0)  # that timer's sleep has begun: it removes itself next
    await offsets.finish()
    assert (waiting.done, due.done) == ([1, 2], [10, 11])
