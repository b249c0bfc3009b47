"""The outbox relay in a process of its own, started and watched by the service's process.

Why: a service's consumers and its relay share one event loop, so one core; draining
alone, Public Works and Education were bound by their own process (about a fifth of it
the relay) while the machine's other core was a third idle. In a child process the relay
publishes while the consumers handle the next batch. On by default
(SINERGI_RELAY_PROCESS): draining, the in-process relay set the pace, starved of the event
loop by the consumers' Python; with the relay here, p99 latency at 200 households/s was
no worse (bench/README).

The parent hands the child what each commit wrote through a pipe (``pipe.py``), which
saves reading the records back from the table. It only saves that read: the outbox table still
decides what is published and in which order, so a record the parent could not hand over
(the child restarting, the pipe backed up) is read back from the table, and nothing is
lost when either process dies. The child stops when the pipe closes: the parent
stopped, or was killed.
"""

import asyncio
import contextlib
import fcntl
import os
import signal
import sys
from collections.abc import Sequence

import structlog

from services.runtime.db import make_engine
from services.runtime.kafka import make_producer
from services.runtime.kafka_login import client_login
from services.runtime.pipe import PipeFeed, PipeWriter, encode
from services.runtime.relay import Committed, OutboxRelay
from services.runtime.settings import Settings
from services.runtime.tables import ServiceTables

log = structlog.get_logger()

ROLE_ENV = "SINERGI_PROCESS_ROLE"
RELAY_ROLE = "relay"
READY_FD_ENV = "SINERGI_RELAY_READY_FD"
MAX_PIPE_BACKLOG = 64 * 1024 * 1024
"""Bytes the parent lets wait in the pipe; past it commits only wake the child, which
reads their records from the table."""


def relay_module() -> str | None:
    """The module this process was started as (``services.social``), which the child is
    started as too; None when it was not started with ``python -m``."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if spec is None or not spec.name:
        return None
    return spec.name.removesuffix(".__main__")


class RelayProcessFailed(RuntimeError):
    """The relay's process ended before it was ready."""


class RelayProcess:
    """The parent's side: starts the child, hands it each commit's records, restarts it if
    it dies, and lets it finish sending when the service stops."""

    def __init__(self, module: str, *, restart_seconds: float = 1.0,
                 stop_seconds: float = 30.0, ready_seconds: float = 120.0) -> None:
        self._module = module
        self._ready_seconds = ready_seconds
        self._restart_seconds = restart_seconds
        self._stop_seconds = stop_seconds
        self._proc: asyncio.subprocess.Process | None = None
        self._pipe: PipeWriter | None = None
        self._watch: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    async def start(self) -> None:
        """Start the child and wait until it can publish, so the service consumes nothing
        before its relay runs (the child's start-up is about a second of imports)."""
        self._proc = await self._spawn(wait_ready=True)
        self._watch = asyncio.create_task(self._supervise())

    def committed(self, rows: Sequence[Committed]) -> None:
        """``rows`` were just committed: hand them to the child (or only wake it)."""
        pipe = self._pipe
        if pipe is None or pipe.broken:
            return  # the child reads them from the table once it runs
        if pipe.queued_bytes > MAX_PIPE_BACKLOG:
            rows = ()
        pipe.put(encode(rows))

    async def stop(self) -> None:
        """Close the pipe and wait for the child to send what is left, then to exit."""
        self._stopping = True
        proc, pipe, self._pipe = self._proc, self._pipe, None
        if pipe is not None:
            pipe.close()
            log.info("relay_pipe_closed", frames=pipe.frames,
                     written_by_loop=pipe.written_by_loop)
        if proc is not None and proc.returncode is None:
            try:
                await asyncio.wait_for(proc.wait(), self._stop_seconds)
            except TimeoutError:
                log.warning("relay_process_killed", pid=proc.pid,
                            after_seconds=self._stop_seconds)
                proc.kill()
                await proc.wait()
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch

    async def _spawn(self, wait_ready: bool = False) -> asyncio.subprocess.Process:
        ready, tell_ready = os.pipe()
        records, write_records = os.pipe()
        with contextlib.suppress(AttributeError, OSError):  # Linux: fewer, larger writes
            fcntl.fcntl(write_records, fcntl.F_SETPIPE_SZ, 1 << 20)
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", self._module, stdin=records,
                pass_fds=(tell_ready,),
                env={**os.environ, ROLE_ENV: RELAY_ROLE, READY_FD_ENV: str(tell_ready)})
        except BaseException:
            os.close(write_records)
            raise
        finally:
            os.close(tell_ready)  # the child's copy is the only one left: its exit is EOF
            os.close(records)
        self._pipe = PipeWriter(write_records)
        try:
            if wait_ready:
                await self._until_ready(proc, ready)
        finally:
            os.close(ready)
        log.info("relay_process_started", pid=proc.pid)
        return proc

    async def _until_ready(self, proc: asyncio.subprocess.Process, ready: int) -> None:
        loop = asyncio.get_running_loop()
        readable = loop.create_future()
        def on_readable() -> None:
            if not readable.done():
                readable.set_result(None)

        loop.add_reader(ready, on_readable)
        try:
            await asyncio.wait_for(readable, self._ready_seconds)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise RelayProcessFailed(
                f"the outbox relay's process was not ready after {self._ready_seconds:.0f} s"
            ) from None
        finally:
            loop.remove_reader(ready)
        if os.read(ready, 1) != b"R":  # end of file: it exited first
            raise RelayProcessFailed(
                f"the outbox relay's process exited (code {await proc.wait()}) before it "
                "was ready; its log above says why")

    async def _supervise(self) -> None:
        while not self._stopping:
            assert self._proc is not None
            code = await self._proc.wait()
            if self._stopping:
                return
            log.error("relay_process_exited", returncode=code, restart_in=self._restart_seconds)
            await self._restart()

    async def _restart(self) -> None:
        """Start a new child, again and again until one starts: while none runs, commits
        stay unsent in the table, and nothing else would publish them."""
        while not self._stopping:
            await asyncio.sleep(self._restart_seconds)
            if self._stopping:
                return
            pipe, self._pipe = self._pipe, None  # commits meanwhile are read from the table
            if pipe is not None:
                pipe.close()
            try:
                self._proc = await self._spawn()
                return
            except Exception as exc:  # fork or pipe refused: memory or descriptors short
                log.error("relay_process_restart_failed", error=repr(exc),
                          retry_in=self._restart_seconds)


async def serve_relay(name: str, tables: ServiceTables, settings: Settings,
                      keep_sent_seconds: float | None) -> None:
    """The child's side: relay until the parent's pipe closes (or SIGTERM), then send
    what is left and exit."""
    if hasattr(os, "SCHED_OTHER"):  # one started again inherits the parent's SCHED_BATCH
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    # Ctrl-C reaches the whole process group: the parent stops, then closes the pipe.
    loop.add_signal_handler(signal.SIGINT, lambda: None)
    engine = make_engine(settings.database_url, pool_size=1)
    producer = make_producer(settings.kafka_bootstrap_servers, f"{name}-relay",
                             client_login(settings))
    feed = PipeFeed(sys.stdin.fileno(), lambda records: relay.committed(records))
    relay = OutboxRelay(engine, tables, producer, poll_seconds=settings.relay_poll_seconds,
                        batch_size=settings.relay_batch_size,
                        keep_sent_seconds=keep_sent_seconds, feed=feed.take)
    try:
        await producer.start()
        feed.start()
        _tell_ready()
        running = asyncio.create_task(relay.run(stop))
        ends = {asyncio.create_task(feed.closed.wait()), asyncio.create_task(stop.wait())}
        await asyncio.wait(ends, return_when=asyncio.FIRST_COMPLETED)
        for end in ends:
            end.cancel()
        stop.set()
        await running
        if feed.closed.is_set():
            await _send_rest(relay)
    finally:
        await relay.close()
        await producer.stop()
        await engine.dispose()
    log.info("relay_process_stopped", sent_from_memory=relay.from_memory,
             read_back=relay.read_back)


def _tell_ready() -> None:
    fd = os.environ.pop(READY_FD_ENV, None)
    if fd is not None:
        # A restarted child's parent does not wait for the word: its end is closed.
        with contextlib.suppress(OSError):
            os.write(int(fd), b"R")
        os.close(int(fd))


async def _send_rest(relay: OutboxRelay, seconds: float = 25.0) -> None:
    """What the parent committed before it stopped, published before the child exits (a
    broker that is down leaves it for the next start)."""
    async def rounds() -> None:
        while await relay.relay_batch():
            pass
    try:
        await asyncio.wait_for(rounds(), seconds)
    except Exception as exc:
        log.warning("relay_process_left_unsent", error=repr(exc))
