"""Records handed from a service's process to its relay's through a pipe, in frames.

A frame is a commit's outbox rows (``Committed``: five values each) pickled, after their
length. The parent writes frames with a ``PipeWriter``; the child reads them with a
``PipeFeed`` as soon as the pipe has them. Pickled rather than JSON: about 0.2 µs a row in
a loop, against the ~50 µs of reading a record back from the table that the pipe saves.
"""

import asyncio
import os
import pickle
import queue
import select
import struct
import threading
from collections.abc import Callable, Sequence

from services.runtime.relay import Committed

_LENGTH = struct.Struct(">I")
LOOP_WRITE_MAX_BYTES = 64 * 1024
"""Largest frame the event loop writes itself (see ``PipeWriter``)."""


def encode(rows: Sequence[Committed]) -> bytes:
    """One frame: the rows pickled, after their length (empty: a wake-up)."""
    body = pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(body)) + body


class PipeFeed:
    """The child's end of the pipe: frames are taken as soon as the pipe has them (the
    event loop calls ``take`` when it is readable), and also right before the relay would
    read records back from the table."""

    def __init__(self, fd: int, on_records: Callable[[Sequence[Committed]], None]) -> None:
        self._fd = fd
        self._on_records = on_records
        self._buffer = bytearray()
        self.closed = asyncio.Event()
        """Set at end of file: the parent stopped, or is gone."""
        os.set_blocking(fd, False)

    def start(self) -> None:
        asyncio.get_running_loop().add_reader(self._fd, self.take)

    def take(self) -> None:
        if self.closed.is_set():
            return
        while True:
            try:
                chunk = os.read(self._fd, 1 << 20)
            except BlockingIOError:
                break
            if not chunk:
                asyncio.get_running_loop().remove_reader(self._fd)
                self.closed.set()
                break
            self._buffer += chunk
        self._frames()

    def _frames(self) -> None:
        buffer, start = self._buffer, 0
        while len(buffer) - start >= _LENGTH.size:
            (length,) = _LENGTH.unpack_from(buffer, start)
            end = start + _LENGTH.size + length
            if len(buffer) < end:
                break
            # Frames come from our own parent through an inherited pipe, never from the
            # network: unpickling them trusts nothing it should not.
            self._on_records(pickle.loads(memoryview(buffer)[start + _LENGTH.size:end]))
            start = end
        del buffer[:start]


class PipeWriter:
    """Frames written to the child's pipe: large ones by a thread of their own, small ones
    by the event loop when the thread has nothing left to write.

    A frame of a Dinsos batch is megabytes and the pipe holds 1 MiB at most: written by the
    event loop, it went over a piece at a time, whenever a loop busy with the consumers'
    Python got round to it, and the relay waited for it in vain. The thread's blocking
    write drives the transfer at the child's pace whatever the loop is doing. But a commit
    at a trickle writes a few KiB, and handing that to the thread costs a wake-up (the
    thread's) before the child's, each waiting for a core on a busy machine: the event loop
    writes it itself, without blocking, if the pipe has room.
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd
        os.set_blocking(fd, False)
        self._frames: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._unwritten = 0  # frames given to the thread, not yet written
        self.queued_bytes = 0
        self.broken = False
        self._closed = False
        self.frames = 0
        self.written_by_loop = 0
        self._thread = threading.Thread(target=self._run, name="relay-pipe", daemon=True)
        self._thread.start()

    def put(self, frame: bytes) -> None:
        """Write ``frame`` after every frame put before it."""
        self.frames += 1
        with self._lock:
            if self._closed:  # its thread closes the descriptor, which may then be reused
                return
            if not self._unwritten and len(frame) <= LOOP_WRITE_MAX_BYTES:
                try:
                    written = os.write(self._fd, frame)
                except BlockingIOError:
                    written = 0
                except OSError:  # the child is gone: it is started again, reads the table
                    self.broken = True
                    return
                if written == len(frame):
                    self.written_by_loop += 1
                    return
                frame = frame[written:]  # the rest after the child has read some
            self._unwritten += 1
            self.queued_bytes += len(frame)
        self._frames.put(frame)

    def close(self) -> None:
        """Write what is queued, then close: the child's end of file. Later frames are
        dropped (the next relay reads their rows from the table)."""
        with self._lock:
            self._closed = True
        self._frames.put(None)

    def _run(self) -> None:
        try:
            while (frame := self._frames.get()) is not None:
                view = memoryview(frame)
                while view:
                    try:
                        view = view[os.write(self._fd, view):]
                    except BlockingIOError:
                        select.select([], [self._fd], [])
                with self._lock:
                    self._unwritten -= 1
                    self.queued_bytes -= len(frame)
        except OSError:  # the child is gone: it is started again, and reads the table
            self.broken = True
        finally:
            os.close(self._fd)
