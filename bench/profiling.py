"""py-spy on a service process: raw stacks while it drains, then where the time went."""

import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

PACKAGES = ("sqlalchemy", "asyncpg", "aiokafka", "kafka", "faststream", "pydantic_core",
            "pydantic", "structlog", "orjson", "uvicorn", "fast_depends")


# A sample counts for the first of these found walking its stack from the leaf to the root,
# so SQL run by ``UnitOfWork.emit`` counts as emit, the handler's own SQL as handler.
STEPS = (
    ("(structlog/", "logging (structlog)"),
    ("run_in_threadpool (fast_depends/", "FastStream DI: a worker-thread hop per record"),
    ("UnitOfWork.claim ", "inbox claim"),
    ("encode (contracts/codec.py", "encode event (pydantic)"),
    ("UnitOfWork._lock_key ", "advisory lock per key"),
    ("UnitOfWork.emit ", "outbox insert"),
    ("UnitOfWork.commit ", "transaction commit"),
    ("UnitOfWork.__aenter__ ", "connection checkout + BEGIN"),
    ("UnitOfWork.__aexit__ ", "connection release"),
    ("decode (contracts/codec.py", "decode + validate (pydantic)"),
    ("OutboxRelay.", "outbox relay"),
    ("AIOKafkaConsumer.commit ", "offset commit per record"),
    ("GroupCoordinator._do_commit_offsets ", "offset commit per record"),
    ("(services/social/", "handler (its SQL and rules)"),
    ("(services/public_works/", "handler (its SQL and rules)"),
    ("(services/education/", "handler (its SQL and rules)"),
    ("(services/timeline/", "handler (its SQL and rules)"),
    ("(services/runtime/consumer.py", "runtime (other)"),
    ("(services/runtime/service.py", "runtime (other)"),
)
# Only when no step above is on the stack: library work not done for one of them.
LIBRARIES = (
    ("(faststream/", "FastStream dispatch"),
    ("(fast_depends/", "FastStream dispatch"),
    ("(aiokafka/", "aiokafka fetch/produce"),
)


# Leaves of a thread that waits, sampled anyway (py-spy's idle test is loose with
# --nonblocking): the event loop in epoll, a worker thread on its queue.
WAITING = ("EpollSelector.select (selectors.py", "Condition.wait (threading.py")


def step(frames: list[str]) -> str:
    for markers in (STEPS, LIBRARIES):
        for frame in reversed(frames):
            if "__main__.py" in frame:
                break
            for marker, name in markers:
                if marker in frame:
                    return name
    return "event loop: socket reads and writes, scheduling"


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(found).exists():
        raise FileNotFoundError("py-spy not found: pip install py-spy")
    return found


class Recorder:
    """``py-spy record --format raw`` on one pid until ``stop``; needs ptrace (root)."""

    def __init__(self, pid: int, out: Path, rate: int = 200) -> None:
        out.parent.mkdir(parents=True, exist_ok=True)
        self.out = out
        self.rate = rate
        self._began = time.monotonic()
        self.seconds = 0.0
        self._log = out.with_suffix(".log").open("wb")
        self._proc = subprocess.Popen(
            [py_spy(), "record", "--pid", str(pid), "--format", "raw", "--output", str(out),
             "--rate", str(rate), "--nonblocking", "--function"],
            stdout=self._log, stderr=subprocess.STDOUT,
        )

    def stop(self) -> None:
        self.seconds = time.monotonic() - self._began
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGINT)
        try:
            self._proc.wait(30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._log.close()


def category(frame: str) -> str:
    path = frame[frame.rfind("(") + 1:]
    for name in PACKAGES:
        if f"/{name}/" in path or path.startswith(f"{name}/"):
            return name
    for prefix in ("services/runtime", "contracts", "services"):
        if prefix in path:
            return prefix
    if "asyncio/" in path:
        return "asyncio"
    return "stdlib/other"


def summarize(raw: Path, expected: float, top: int = 25) -> dict[str, Any]:
    """Busy share, self time by package and by frame, inclusive time by frame.

    Samples of waiting threads are left out (by py-spy, or here by their leaf), so busy
    samples over the ``expected`` count (rate * seconds) are the share of time the process
    was on CPU or in a system call: the rest it waited for Kafka or PostgreSQL.
    """
    selfs: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    steps: Counter[str] = Counter()
    total = waiting = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        total += n
        if frames[-1].startswith(WAITING):
            waiting += n
            continue
        selfs[frames[-1]] += n
        packages[category(frames[-1])] += n
        steps[step(frames)] += n
        for f in set(frames):
            inclusive[f] += n
    busy = max(total - waiting, 1)

    def share(counter: Counter[str]) -> list[dict[str, Any]]:
        return [{"frame": f, "pct_of_busy": round(100 * n / busy, 1)}
                for f, n in counter.most_common(top)]

    return {
        "samples": total, "busy_pct": round(100 * (total - waiting) / max(expected, 1), 1),
        "by_step": share(steps), "self_by_package": share(packages), "self_top": share(selfs),
        "inclusive_top": share(inclusive),
    }
