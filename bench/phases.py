"""The measured phases: each service alone, the whole pipeline, latency at an offered load."""

import asyncio
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from aiokafka import AIOKafkaProducer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.cpu import CpuSplit, own_seconds, per_unit_us, runqueue_seconds
from bench.hops import SEGMENTS, SEGMENTS_SQL, TICKET_OPENED, percentile, segment_percentiles
from bench.probes import Meter, peak_rss_kib
from bench.profiling import Recorder, summarize
from bench.workload import Households, IntakeRecord, send_all
from contracts.catalogue import PUBLIC_WORKS_TICKET, SOCIAL_HOUSING, SOCIAL_INTAKE
from services.demo.deployment import SERVICES
from services.demo.run import ServiceProcesses
from services.runtime.service import ServiceDefinition
from services.stack.common import descendants


@dataclass
class Bench:
    engine: AsyncEngine
    meter: Meter
    producer: AIOKafkaProducer
    households: Households
    definitions: dict[str, ServiceDefinition]
    env: dict[str, str]
    log_dir: Path
    drain_timeout: float
    profile: set[str] = field(default_factory=set)
    profile_dir: Path | None = None
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    infra: dict[str, list[int]] = field(default_factory=dict)
    """Root pids of ``postgresql`` and ``kafka`` when the bench's stack runs them."""

    def cpu_split(self, procs: ServiceProcesses) -> CpuSplit:
        return CpuSplit({**{n: [p.pid] for n, p in procs.procs.items()}, **self.infra})

    def launch(self, names: tuple[str, ...]) -> ServiceProcesses:
        """The services as the deployment runs them: one process each, logs to files."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        procs = {}
        for name in names:
            with (self.log_dir / f"{name}.log").open("ab") as log:
                procs[name] = subprocess.Popen([sys.executable, "-m", f"services.{name}"],
                                               env=self.env, stdout=log, stderr=subprocess.STDOUT)
        return ServiceProcesses(procs)

    def defs(self, names: tuple[str, ...]) -> list[ServiceDefinition]:
        return [self.definitions[n] for n in names]

    async def drain(self, names: tuple[str, ...], procs: ServiceProcesses) -> float:
        return await self.meter.drained(self.defs(names), self.drain_timeout, procs.check_alive)


def peaks_mib(procs: ServiceProcesses) -> dict[str, float | None]:
    """Each service's peak resident memory; with its relay in a process of its own
    (SINERGI_RELAY_PROCESS), the two processes' peaks added."""
    def peak(pid: int) -> float | None:
        found = [k for p in (pid, *descendants([pid])) if (k := peak_rss_kib(p))]
        return round(sum(found) / 1024, 1) if found else None
    return {n: peak(p.pid) for n, p in procs.procs.items()}


async def settle(b: Bench, warmup: int) -> None:
    """All services until every topic is consumed and every outbox sent (left-overs too)."""
    procs = b.launch(SERVICES)
    try:
        await send_all(b.producer, b.households.records(warmup))
        await b.drain(SERVICES, procs)
    finally:
        procs.stop()


async def alone(b: Bench, name: str, size: int) -> dict[str, Any]:
    """One service draining its pre-filled input with its full work, nothing else running.

    Social's input is ``size`` fresh intakes; the others drain what the earlier phases
    of this chain (social → public works → education → timeline) left on their topics.
    """
    d = b.definitions[name]
    if name == "social":
        await send_all(b.producer, b.households.records(size), SOCIAL_INTAKE.name)
    prefilled = await b.meter.behind([d])
    since = await b.meter.db_now()
    began = time.monotonic()
    procs = b.launch((name,))
    recorder = None
    pid = procs.procs[name].pid
    try:
        remaining = prefilled
        while prefilled and (remaining := await b.meter.behind([d])) >= prefilled:
            procs.check_alive()
            await asyncio.sleep(0.05)  # until it works: its imports and group join don't count
        split = b.cpu_split(procs)
        split.start()
        own_before, waited_before = own_seconds(pid), runqueue_seconds(pid)
        if name in b.profile and b.profile_dir is not None:
            recorder = Recorder(pid, b.profile_dir / f"{name}.raw.txt")
        await b.drain((name,), procs)
        wall = time.monotonic() - began
        used = split.stop()
        own_after, waited_after = own_seconds(pid), runqueue_seconds(pid)
        peaks = peaks_mib(procs)
    finally:
        if recorder is not None:
            recorder.stop()
        procs.stop()
    if recorder is not None and recorder.out.exists():
        b.profiles[name] = {"service": name, "raw": str(recorder.out),
                            "seconds": round(recorder.seconds, 1),
                            **summarize(recorder.out, recorder.rate * recorder.seconds)}
    work = await b.meter.work(d, since)
    # Over the work's own window: the drain is noticed only a second or so after it ended,
    # and the process idles meanwhile. The CPU is counted from the first offset commit, by
    # which time a batch or two (a second in flight) were handled: it is set against the
    # records still to do then, and against their share of the window. (Counted against
    # every record, a drain of 5 000 showed a third of its CPU.)
    share = remaining / work.consumed if work.consumed and 0 < remaining < work.consumed else 1.0
    window = work.seconds() * share
    own = used[name]
    busy = round(own / window, 2) if own is not None and work.consumed else None

    def over_window(before: float | None, after: float | None) -> float | None:
        return (round((after - before) / window, 2)
                if before is not None and after is not None and work.consumed else None)

    return {
        "prefilled": prefilled, "consumed": work.consumed, "produced": work.produced,
        "seconds": round(work.seconds(), 3),
        "per_second": round(work.consumed / work.seconds(), 1) if work.consumed else 0.0,
        "wall_seconds_with_startup": round(wall, 1), "peak_rss_mib": peaks[name],
        "cpu_share": busy, "cpu_share_consumers": over_window(own_before, own_after),
        "waiting_share_consumers": over_window(waited_before, waited_after),
        **_cpu_fields(used, round(work.consumed * share), window, "record"),
    }


def _cpu_fields(used: dict[str, float | None], units: int, seconds: float,
                unit: str) -> dict[str, Any]:
    """CPU per unit of work by part, and how many of the machine's cores were busy."""
    return {f"cpu_us_per_{unit}": per_unit_us(used, units),
            "machine_busy_cores": round((used["machine"] or 0.0) / seconds, 2)
            if seconds > 0 else None}


async def pipeline(b: Bench, size: int, warmup: int) -> tuple[dict[str, Any], ServiceProcesses]:
    """``size`` intakes through all services at once; the services are left running."""
    procs = b.launch(SERVICES)
    try:
        await send_all(b.producer, b.households.records(warmup))
        await b.drain(SERVICES, procs)
        records = b.households.records(size)
        since = await b.meter.db_now()
        split = b.cpu_split(procs)
        split.start()
        began = time.monotonic()
        await send_all(b.producer, records)
        published = time.monotonic() - began
        await b.drain(SERVICES, procs)
        used = split.stop()
    except BaseException:
        procs.stop()
        raise
    works = {n: await b.meter.work(d, since) for n, d in b.definitions.items()}
    end = max(w.last for w in works.values() if w.last is not None)
    window = (end - since).total_seconds()
    consumed = sum(w.consumed for w in works.values())
    produced = sum(w.produced for w in works.values())
    return {
        "households": size, "seconds": round(window, 3),
        "publish_seconds": round(published, 3),
        "events_consumed": consumed, "events_produced": produced,
        "events_per_second": round(consumed / window, 1),
        "produced_per_second": round(produced / window, 1),
        "households_per_second": round(size / window, 1),
        "timeline_entries": works["timeline"].consumed,
        "consumed_by_service": {n: w.consumed for n, w in works.items()},
        "mean_intake_bytes": round(sum(r.size for r in records) / len(records)),
        **_cpu_fields(used, size, window, "household"),
    }, procs


async def latency(b: Bench, procs: ServiceProcesses, rate: float, seconds: float,
                  warmup: float, capacity: float | None = None) -> dict[str, Any]:
    """Intakes at ``rate`` per second; each ticket's time from intake publish to timeline.

    Above the pipeline's measured ``capacity`` (households/s) latency only grows with the
    length of the run: the offered load is then cut to about 20 s of the pipeline's work,
    so the run stays bounded, and the result says ``saturated``.
    """
    saturated = capacity is not None and rate > capacity
    if saturated and capacity is not None:
        seconds, warmup = min(seconds, max(1.0, 20 * capacity / rate)), 0.0
    records = b.households.records(int(rate * (seconds + warmup)))
    offset = await b.meter.clock_offset()
    sent: list[float] = []
    split = b.cpu_split(procs)
    split.start()
    start = time.perf_counter()
    for i, r in enumerate(records):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        sent.append(time.time())
        await b.producer.send(SOCIAL_INTAKE.name, value=r.value, key=r.key, headers=r.headers)
    await b.producer.flush()
    offered_for = time.perf_counter() - start
    offered = len(records) / offered_for
    used = split.stop()  # over the offered load only: the drain after it idles
    drain = await b.drain(SERVICES, procs)
    measured = [(r, t) for r, t in zip(records, sent, strict=True)
                if t - sent[0] >= warmup and r.needs]
    refs = {r.household_ref: t for r, t in measured}
    async with b.engine.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT household_ref, recorded_at FROM timeline.entries "
            "WHERE type = :type AND household_ref = ANY(:refs)"),
            {"type": TICKET_OPENED, "refs": list(refs)})).all()
    ms = sorted((_epoch(at) - offset - refs[ref]) * 1000 for ref, at in rows)
    parts = await _latency_parts(b, [(r, t + offset) for r, t in measured])
    return {
        "offered_per_second": rate, "achieved_per_second": round(offered, 1),
        "saturated": saturated, "pipeline_capacity_hh_per_s": capacity,
        "offered_seconds": seconds,
        "households_measured": len(measured), "tickets_expected": sum(r.needs for r, _ in measured),
        "samples": len(ms), "drain_after_last_send_s": round(drain, 2),
        **{f"p{q}_ms": round(percentile(ms, q), 1) if ms else None for q in (50, 95, 99)},
        "max_ms": round(ms[-1], 1) if ms else None, "clock_offset_s": round(offset, 4),
        "parts_households": len(parts), "parts_ms": segment_percentiles(parts),
        **_cpu_fields(used, len(records), offered_for, "household"),
    }


async def _latency_parts(b: Bench, sent: list[tuple[IntakeRecord, float]]
                         ) -> list[dict[str, float]]:
    """Each ticketed household's latency in ``SEGMENTS`` (``sent``: its intake and when it
    was handed to the producer, on the database's clock)."""
    ticketed = [(r, at) for r, at in sent if r.needs]
    params = {
        "ids": [UUID(dict(r.headers)["ce_id"].decode()) for r, _ in ticketed],
        "refs": [r.household_ref for r, _ in ticketed], "at": [at for _, at in ticketed],
        "flag_topic": SOCIAL_HOUSING.name, "ticket_topic": PUBLIC_WORKS_TICKET.name,
        "ticket_type": TICKET_OPENED,
    }
    async with b.engine.connect() as conn:
        rows = (await conn.execute(text(SEGMENTS_SQL), params)).mappings().all()
    return [{segment: float(row[segment]) for segment in SEGMENTS} for row in rows]


def _epoch(at: datetime) -> float:
    return at.timestamp()
