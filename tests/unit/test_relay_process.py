"""The relay in a process of its own: the pipe's frames, and which records it waits for."""

import asyncio
import os
from collections.abc import Iterator
from typing import Any

import pytest

from services.runtime.pipe import LOOP_WRITE_MAX_BYTES, PipeFeed, PipeWriter, encode
from services.runtime.relay import HANDOVER_WAIT_MIN_ROWS, Committed, OutboxRelay
from services.runtime.relay import outgoing as relay_outgoing
from services.runtime.relay_process import RelayProcess
from services.runtime.tables import ServiceTables

pytestmark = pytest.mark.unit


def outgoing(i: int) -> Committed:
    return (i, "sinergi.test", f"h-{i % 7}", f'[["ce_id", "id-{i}"]]', b'{"n": %d}' % i)


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    read, write = os.pipe()
    yield read, write
    for fd in (read, write):
        try:
            os.close(fd)
        except OSError:
            pass


async def test_frames_split_across_reads_reach_the_relay_whole_and_in_order(
    pipe: tuple[int, int]
) -> None:
    read, write = pipe
    got: list[list[Committed]] = []
    feed = PipeFeed(read, lambda records: got.append(list(records)))
    first, second = [outgoing(1), outgoing(2)], [outgoing(3)]
    data = encode(first) + encode(()) + encode(second)
    for cut in (3, 40, len(data)):  # a length cut in two, then a body cut in two
        os.write(write, data[:cut])
        data = data[cut:]
        feed.take()
    assert got == [first, [], second]
    assert not feed.closed.is_set()


async def test_the_feed_closes_when_the_parent_end_of_the_pipe_closes(
    pipe: tuple[int, int]
) -> None:
    read, write = pipe
    feed = PipeFeed(read, lambda records: None)
    os.close(write)
    feed.take()
    assert feed.closed.is_set()


class CountingFeed:
    """Stands in for the pipe: hands ``late`` over on its ``on_call``-th call."""

    def __init__(self, relay: OutboxRelay, late: tuple[Committed, ...] = (),
                 on_call: int = 0) -> None:
        self.relay, self.late, self.on_call, self.calls = relay, late, on_call, 0

    def __call__(self) -> None:
        self.calls += 1
        if self.calls == self.on_call:
            self.relay.committed(self.late)


def relay_with(handed: list[int], **feed: Any) -> tuple[OutboxRelay, CountingFeed]:
    relay = OutboxRelay(None, ServiceTables("unit_relay"), None)  # type: ignore[arg-type]
    counting = CountingFeed(relay, **feed)
    relay._feed = counting  # as the child constructs it, after the feed it needs
    relay.committed([outgoing(i) for i in handed])
    return relay, counting


ROUND = list(range(100, 100 + HANDOVER_WAIT_MIN_ROWS))


async def test_a_large_round_stops_before_the_first_record_not_handed_over_yet() -> None:
    relay, _ = relay_with([i for i in ROUND if i != 150])
    assert await relay._handed_over_first(ROUND) == list(range(100, 150))


async def test_a_small_round_reads_its_missing_records_back_at_once() -> None:
    small = ROUND[:HANDOVER_WAIT_MIN_ROWS - 1]
    relay, feed = relay_with([i for i in small if i not in (100, 150)] + [99])
    assert await relay._handed_over_first(small) == small  # not cut at 150
    assert feed.calls == 1  # took what the pipe had, did not wait for 100


async def test_the_relay_waits_for_a_first_record_still_being_handed_over() -> None:
    relay, feed = relay_with([99, *ROUND[1:]], late=(outgoing(100),), on_call=3)
    assert await relay._handed_over_first(ROUND) == ROUND
    assert feed.calls == 3


async def test_a_row_older_than_anything_handed_over_is_read_back_without_waiting() -> None:
    relay, feed = relay_with(ROUND[1:])  # 100 predates this process: it never comes
    assert await relay._handed_over_first(ROUND) == ROUND
    assert feed.calls == 1


async def test_after_a_wait_in_vain_it_reads_back_without_waiting_for_a_while() -> None:
    relay, feed = relay_with([99, *ROUND[1:]])  # 100: another process's row
    assert await relay._handed_over_first(ROUND, wait_seconds=0.01) == ROUND
    waited = feed.calls
    assert waited > 1
    assert await relay._handed_over_first(ROUND, wait_seconds=0.01) == ROUND
    assert feed.calls == waited + 1


def read_to_end(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)


def test_small_frames_at_a_trickle_are_written_by_the_event_loop() -> None:
    read, write = os.pipe()
    writer = PipeWriter(write)
    frames = [bytes([i]) * 1000 for i in range(10)]
    for frame in frames:
        writer.put(frame)
    writer.close()
    assert read_to_end(read) == b"".join(frames)
    assert writer.written_by_loop == len(frames)


def test_a_small_frame_behind_a_large_one_waits_for_it() -> None:
    read, write = os.pipe()
    writer = PipeWriter(write)
    first, large = b"a" * 100, b"L" * (4 << 20)  # larger than any pipe: the thread blocks
    behind = [b"b" * 100, b"c" * LOOP_WRITE_MAX_BYTES]
    writer.put(first)
    writer.put(large)
    for frame in behind:
        writer.put(frame)
    writer.close()
    assert read_to_end(read) == first + large + b"".join(behind)
    assert writer.written_by_loop == 1


def test_a_committed_row_becomes_the_record_its_table_row_would() -> None:
    record = relay_outgoing((7, "sinergi.test", "h-7",
                             '[["ce_id", "id-7"], ["ce_subject", "h-7"]]', b"{}"))
    assert (record.id, record.topic, record.key, record.headers, record.payload) == (
        7, "sinergi.test", b"h-7", [("ce_id", b"id-7"), ("ce_subject", b"h-7")], b"{}")


def test_a_frame_put_after_close_is_dropped_not_written_to_a_reused_descriptor() -> None:
    read, write = os.pipe()
    writer = PipeWriter(write)
    writer.put(b"first")
    writer.close()
    assert read_to_end(read) == b"first"  # end of file: the thread closed its descriptor
    again_read, again_write = os.pipe()
    assert again_write == write  # the lowest free numbers: the same again
    writer.put(b"late")
    os.close(again_write)
    assert read_to_end(again_read) == b""


class Child:
    def __init__(self, returncode: int | None) -> None:
        self.returncode = returncode
        self.exited = asyncio.Event()
        if returncode is not None:
            self.exited.set()

    async def wait(self) -> int:
        await self.exited.wait()
        return self.returncode or 0


async def test_a_relay_that_cannot_be_started_again_is_retried_until_one_starts(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    relay, alive, spawned = RelayProcess("services.social", restart_seconds=0), Child(None), \
        asyncio.Event()
    attempts = iter([OSError(12, "Cannot allocate memory"), OSError(24, "Too many open files"),
                     alive])
    errors: list[str] = []

    async def spawn(wait_ready: bool = False) -> Child:
        outcome = next(attempts)
        if isinstance(outcome, Exception):
            raise outcome
        spawned.set()
        return outcome

    monkeypatch.setattr(relay, "_spawn", spawn)
    monkeypatch.setattr("services.runtime.relay_process.log.error",
                        lambda event, **kw: errors.append(event))
    relay._proc = Child(-9)  # type: ignore[assignment]  # killed
    supervising = asyncio.create_task(relay._supervise())
    await asyncio.wait_for(spawned.wait(), 5)
    assert relay._proc is alive
    assert errors == ["relay_process_exited", "relay_process_restart_failed",
                      "relay_process_restart_failed"]
    relay._stopping = True
    alive.exited.set()
    await asyncio.wait_for(supervising, 5)
