"""Two batches of a consumer in flight: the next one's Python runs while the last one waits.

A consumer's time on a batch is its own Python (decoding, handlers, building rows), then
waiting for PostgreSQL to run its statements and commit. Taken strictly one after another,
the process idles through every such wait even when the next batch is already fetched.
Here a batch is started as soon as it is fetched, while the one before it finishes, and the
consumer fetches again only once that earlier one is done: never more than two in flight.

Only a large batch is started early (``MIN_OVERLAP_RECORDS``). Under a light load batches
are small, and starting each at once only splits the records arriving into more, smaller
batches, each paying a transaction and a relay round: at 200 households/s that made p50
latency 17-43 ms worse (bench/README). A small batch waits for the one in flight, as before.

Order is kept where it matters:

- a batch sharing a record key with the one in flight (one household's events, or records
  without a key) waits for it to finish before it starts, so each key's records are still
  handled in their order;
- a batch's offsets are committed only after the batch before it has finished, so a
  commit never passes a record that is not done. Once a batch has failed (the processor
  is built to fail only when cancelled), no later offset of its consumer is
  committed: what follows is handled, and read again after a restart, where the inbox
  drops what was handled.
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
        self._tasks: set[asyncio.Task[None]] = set()
        self.failed: BaseException | None = None
        """The first batch failure; from then on no offset of this consumer is committed."""

    async def submit(self, keys: frozenset[bytes | None], records: int, handle: Step,
                     finish: Step) -> None:
        """Run ``handle`` (a batch of ``records`` with those ``keys``), then ``finish`` once
        the previous batch has finished. A large batch starts at once and may still be in
        flight on return; a small one runs to its end first, and its failure is raised."""
        previous = self._last
        if previous is not None and (not self._early(records) or keys & self._last_keys):
            await asyncio.wait([previous])
            previous = None
        early = self._early(records)  # again: the service may have begun to stop meanwhile
        task = asyncio.create_task(self._in_turn(handle, finish, previous))
        self._tasks.add(task)
        task.add_done_callback(self._forget)
        self._last, self._last_keys = task, keys
        if not early:
            await task
        elif previous is not None:
            await asyncio.wait([previous])

    async def drain(self, cancel_after: float) -> None:
        """Make every later batch run to its end inside ``submit``, and wait for those in
        flight, cancelling any still running after ``cancel_after`` seconds (a service stopping:
        nothing may be left running once it has)."""
        self._overlap = False
        while self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=cancel_after)
            for task in pending:
                task.cancel()
            if pending:
                log.warning("batches_cancelled_on_stop", batches=len(pending))
                await asyncio.wait(pending)

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: a failure is logged where it happens

    def _early(self, records: int) -> bool:
        return self._overlap and records >= MIN_OVERLAP_RECORDS

    async def _in_turn(self, handle: Step, finish: Step,
                       previous: asyncio.Task[None] | None) -> None:
        try:
            await handle()
        except BaseException as exc:
            if self.failed is None:
                self.failed = exc
                log.error("batch_failed_offsets_held", error=repr(exc))
            raise
        if previous is not None:
            await asyncio.wait([previous])
        if self.failed is None:
            await finish()
