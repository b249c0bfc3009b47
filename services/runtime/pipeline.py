"""Two batches of a consumer in flight: the next one's Python runs while the last one waits.

A consumer's time on a batch is its own Python (decoding, handlers, building rows), then
waiting for PostgreSQL to run its statements and commit. Taken strictly one after another,
the process idles through every such wait even when the next batch is already fetched.
Here a batch is started as soon as it is fetched, while the one before it finishes, and the
consumer fetches again only once that earlier one is done: never more than two in flight.

Only a large batch is started early (``MIN_OVERLAP_RECORDS``). Under a light load batches
are small, and starting each at once only splits the records arriving into more, smaller
batches, each paying a transaction and a relay round: at 200 households/s that made p50
latency 15-40 ms worse (bench/README). A small batch waits for the one in flight, as before.

Order is kept where it matters:

- a batch sharing a record key with the one in flight (one household's events, or records
  without a key) waits for it to finish before it starts, so each key's records are still
  handled in their order;
- a batch's offsets are committed only after the batch before it has finished, so a
  commit never passes a record that is not done. A batch that failed (which the
  processor lets happen only on cancellation) fails every later one of its consumer with
  it: their effects may commit, their offsets do not, and after a restart the inbox drops
  what is read again.
"""

import asyncio
from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger()

Step = Callable[[], Awaitable[None]]

MIN_OVERLAP_RECORDS = 200
"""Fewest records a batch has to be started while the one before it is in flight."""


class BatchPipeline:
    def __init__(self, *, overlap: bool = True) -> None:
        self._overlap = overlap
        self._last: asyncio.Task[None] | None = None
        self._last_keys: frozenset[bytes | None] = frozenset()

    async def submit(self, keys: frozenset[bytes | None], records: int, handle: Step,
                     finish: Step) -> None:
        """Run ``handle`` (a batch of ``records`` with those ``keys``), then ``finish`` once
        the previous batch has finished. A large batch starts at once and may still be in
        flight on return; a small one runs to its end first. A failure of the previous
        batch is raised here (its records' offsets were not committed)."""
        previous = self._last
        early = self._overlap and records >= MIN_OVERLAP_RECORDS
        if previous is not None and (not early or keys & self._last_keys):
            self._last = None
            await previous
            previous = None
        task = asyncio.create_task(_in_turn(handle, finish, previous))
        if not early:
            await task
            return
        self._last, self._last_keys = task, keys
        if previous is not None:
            await previous

    async def drain(self) -> None:
        """Run every later batch to its end before ``submit`` returns, and wait for the one
        in flight (a service stopping: nothing may be left running once it has)."""
        self._overlap = False
        last, self._last = self._last, None
        if last is not None:
            await asyncio.wait([last])
            if not last.cancelled() and last.exception() is not None:
                log.error("batch_failed_while_stopping", error=repr(last.exception()))


async def _in_turn(handle: Step, finish: Step, previous: asyncio.Task[None] | None) -> None:
    await handle()
    if previous is not None:
        await previous  # its failure is this batch's too: its offsets must not be passed
    await finish()
