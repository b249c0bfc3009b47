"""Two batches of a consumer in flight, in order where order matters (pipeline.py)."""

import asyncio

import pytest

from services.runtime.pipeline import MIN_OVERLAP_RECORDS, BatchPipeline

pytestmark = pytest.mark.unit

LARGE = MIN_OVERLAP_RECORDS
STOP = 10.0


class Batch:
    """A batch whose handling waits for ``release``, noting each step in ``log``."""

    def __init__(self, name: str, log: list[str], *, blocked: bool = True,
                 fails: bool = False) -> None:
        self.name, self.log, self.fails = name, log, fails
        self.release = asyncio.Event()
        self.started = asyncio.Event()
        if not blocked:
            self.release.set()

    async def handle(self) -> None:
        self.log.append(f"{self.name} started")
        self.started.set()
        await self.release.wait()
        if self.fails:
            raise RuntimeError(f"{self.name} broke")
        self.log.append(f"{self.name} handled")

    async def finish(self) -> None:
        self.log.append(f"{self.name} offsets")

    async def submit_to(self, pipeline: BatchPipeline, *keys: bytes,
                        records: int = LARGE) -> None:
        await pipeline.submit(frozenset(keys), records, self.handle, self.finish)


async def _yield_to_others() -> None:
    for _ in range(20):  # lets every ready task run as far as it can, no clock involved
        await asyncio.sleep(0)


async def test_a_large_batch_starts_while_the_one_before_it_is_still_in_flight() -> None:
    log: list[str] = []
    pipeline, first, second = BatchPipeline(), Batch("1", log), Batch("2", log)
    await first.submit_to(pipeline, b"a")
    submitted = asyncio.create_task(second.submit_to(pipeline, b"b"))
    await second.started.wait()
    await _yield_to_others()
    assert "1 handled" not in log
    assert not submitted.done()  # no third batch is fetched while the first is in flight
    first.release.set()
    await submitted
    second.release.set()
    await pipeline.drain(STOP)
    assert log.index("1 offsets") < log.index("2 offsets")


async def test_offsets_are_committed_in_batch_order_when_the_later_batch_is_done_first() -> None:
    log: list[str] = []
    pipeline = BatchPipeline()
    first, second = Batch("1", log), Batch("2", log, blocked=False)
    await first.submit_to(pipeline, b"a")
    submitted = asyncio.create_task(second.submit_to(pipeline, b"b"))
    await _yield_to_others()
    assert "2 handled" in log and "2 offsets" not in log
    first.release.set()
    await submitted
    await pipeline.drain(STOP)
    assert log[-2:] == ["1 offsets", "2 offsets"]


async def test_a_batch_sharing_a_key_with_the_one_in_flight_waits_for_it() -> None:
    log: list[str] = []
    pipeline = BatchPipeline()
    first, second = Batch("1", log), Batch("2", log, blocked=False)
    await first.submit_to(pipeline, b"a", b"shared")
    submitted = asyncio.create_task(second.submit_to(pipeline, b"shared"))
    await _yield_to_others()
    assert "2 started" not in log
    first.release.set()
    await submitted
    await pipeline.drain(STOP)
    assert log.index("1 offsets") < log.index("2 started")


async def test_a_small_batch_waits_for_the_one_in_flight_and_runs_to_its_end() -> None:
    log: list[str] = []
    pipeline = BatchPipeline()
    first, small = Batch("1", log), Batch("small", log, blocked=False)
    await first.submit_to(pipeline, b"a")
    submitted = asyncio.create_task(small.submit_to(pipeline, b"b", records=LARGE - 1))
    await _yield_to_others()
    assert "small started" not in log
    first.release.set()
    await submitted
    assert log == ["1 started", "1 handled", "1 offsets", "small started", "small handled",
                   "small offsets"]


async def test_after_a_failed_batch_later_ones_are_handled_but_no_offsets_committed() -> None:
    log: list[str] = []
    pipeline = BatchPipeline()
    first, second = Batch("1", log, fails=True), Batch("2", log, blocked=False)
    sharing, small = Batch("3", log, blocked=False), Batch("small", log, blocked=False)
    await first.submit_to(pipeline, b"a")
    submitted = asyncio.create_task(second.submit_to(pipeline, b"b"))
    await second.started.wait()
    first.release.set()
    await submitted
    await sharing.submit_to(pipeline, b"b")
    await small.submit_to(pipeline, b"c", records=LARGE - 1)
    await pipeline.drain(STOP)
    assert isinstance(pipeline.failed, RuntimeError)
    assert {"2 handled", "3 handled", "small handled"} <= set(log)
    assert [line for line in log if line.endswith("offsets")] == []


async def test_with_overlap_off_each_batch_runs_to_its_end_before_submit_returns() -> None:
    log: list[str] = []
    pipeline = BatchPipeline(overlap=False)
    batch = Batch("1", log, blocked=False)
    await batch.submit_to(pipeline, b"a")
    assert log == ["1 started", "1 handled", "1 offsets"]


async def test_draining_waits_for_the_batch_in_flight_and_runs_later_ones_inline() -> None:
    log: list[str] = []
    pipeline = BatchPipeline()
    first, later = Batch("1", log), Batch("later", log, blocked=False)
    await first.submit_to(pipeline, b"a")
    drained = asyncio.create_task(pipeline.drain(STOP))
    await _yield_to_others()
    assert not drained.done()
    first.release.set()
    await drained
    assert log[-1] == "1 offsets"
    await later.submit_to(pipeline, b"b")
    assert log[-1] == "later offsets"


async def test_a_batch_sharing_a_key_still_waits_while_the_service_drains() -> None:
    log: list[str] = []
    pipeline = BatchPipeline()
    first, sharing = Batch("1", log), Batch("2", log, blocked=False)
    await first.submit_to(pipeline, b"k")
    drained = asyncio.create_task(pipeline.drain(STOP))
    submitted = asyncio.create_task(sharing.submit_to(pipeline, b"k"))
    await _yield_to_others()
    assert "2 started" not in log
    first.release.set()
    await asyncio.gather(drained, submitted)
    assert log.index("1 offsets") < log.index("2 started")


async def test_draining_waits_for_a_batch_that_was_waiting_to_start() -> None:
    log: list[str] = []
    pipeline = BatchPipeline()
    first, waiting = Batch("1", log), Batch("2", log)
    await first.submit_to(pipeline, b"k")
    submitted = asyncio.create_task(waiting.submit_to(pipeline, b"k"))
    await _yield_to_others()
    drained = asyncio.create_task(pipeline.drain(STOP))
    first.release.set()
    await waiting.started.wait()
    await _yield_to_others()
    assert not drained.done() and not submitted.done()
    waiting.release.set()
    await asyncio.gather(drained, submitted)
    assert log[-1] == "2 offsets"


async def test_draining_cancels_a_batch_still_running_after_its_time() -> None:
    log: list[str] = []
    pipeline = BatchPipeline()
    stuck = Batch("stuck", log)  # never released: a database that does not come back
    await stuck.submit_to(pipeline, b"a")
    await pipeline.drain(0.01)
    assert isinstance(pipeline.failed, asyncio.CancelledError)
    assert "stuck offsets" not in log
