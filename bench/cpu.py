"""Where a phase's CPU time went: each service process, PostgreSQL, the Kafka brokers, and
the machine as a whole (``/proc``; Linux only, ``None`` elsewhere).

A service alone uses well under one core, yet cannot go faster: the split says whether
the rest went to PostgreSQL and Kafka (the machine is full) or nowhere (the service
waits). PostgreSQL is its postmaster and every live backend under it; a backend that
ended during the phase counts through the postmaster's reaped-children time.
"""

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from services.stack.common import descendants

_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:  # fields after the command name, which may hold spaces and parentheses
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _seconds(roots: Sequence[int]) -> float | None:
    """CPU seconds used so far by ``roots``, their reaped children and their live
    descendants; None if no root is alive."""
    ticks, alive = 0, False
    for pid in roots:
        if (fields := _stat(pid)) is not None:
            alive = True
            ticks += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    if not alive:
        return None
    for pid in descendants(roots):
        if (fields := _stat(pid)) is not None:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / _TICK


def own_seconds(pid: int) -> float | None:
    """CPU seconds ``pid`` itself has used, without its children's (a service's
    consumers' process apart from its relay's); None if it is gone."""
    fields = _stat(pid)
    return None if fields is None else (int(fields[11]) + int(fields[12])) / _TICK


def runqueue_seconds(pid: int) -> float | None:
    """Seconds the live threads of ``pid`` have spent ready to run but waiting for a core
    (``/proc/<pid>/task/*/schedstat``); None if the kernel does not say or it is gone."""
    waited, found = 0, False
    for stat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        try:
            waited += int(stat.read_text().split()[1])
            found = True
        except (OSError, IndexError, ValueError):
            continue  # a thread that has just ended
    return waited / 1e9 if found else None


def _machine() -> tuple[float, float]:
    """Seconds of all cores since boot: (busy, total)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    total = sum(values[:8])  # guest time is already in user
    return (total - idle) / _TICK, total / _TICK


@dataclass
class CpuSplit:
    """CPU seconds per part between ``start`` and ``stop``: ``parts`` maps a name (a
    service, ``postgresql``, ``kafka``) to its root pids."""

    parts: Mapping[str, Sequence[int]]

    def start(self) -> None:
        self._before = {name: _seconds(pids) for name, pids in self.parts.items()}
        self._machine_before = _machine()

    def stop(self) -> dict[str, float | None]:
        """Seconds each part used since ``start`` (None if unknown), and ``machine``: the
        busy seconds of all cores, ``rest``: the machine's less the parts'."""
        used: dict[str, float | None] = {}
        for name, pids in self.parts.items():
            before, after = self._before.get(name), _seconds(pids)
            used[name] = None if before is None or after is None else max(after - before, 0.0)
        machine = _machine()[0] - self._machine_before[0]
        used["rest"] = max(machine - sum(v for v in used.values() if v is not None), 0.0)
        used["machine"] = machine
        return used


def per_unit_us(used: Mapping[str, float | None], units: int) -> dict[str, float | None]:
    """Each part's CPU seconds as microseconds per unit of work (record, household)."""
    return {name: None if seconds is None or not units else round(seconds * 1e6 / units, 1)
            for name, seconds in used.items()}
