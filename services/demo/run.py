"""``make demo``: a synthetic East Kalimantan year through the real services.

The stack, the four services as processes, households spread over the ten kabupaten/kota,
twelve simulated months of field updates, attendance, mentoring and income; then the
funnel per kabupaten/kota, one household's story, and a chart of the funnel.
"""

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import select

from services.cli.render import timeline_table
from services.cli.reports import funnel_table
from services.demo.chart import write_funnel_chart
from services.demo.deployment import SERVICES, all_definitions
from services.demo.generator import MONTHS, generate
from services.demo.quiesce import migrate_all
from services.demo.simulation import Simulation
from services.runtime.auth import parse_tokens
from services.runtime.db import make_engine
from services.runtime.kafka import ensure_topics, make_producer
from services.runtime.settings import Settings
from services.stack.common import free_port
from services.timeline.queries import funnel
from services.timeline.tables import entries

START = date(2025, 1, 1)


@dataclass
class ServiceProcesses:
    procs: dict[str, subprocess.Popen[bytes]]

    @classmethod
    def start(cls, env: dict[str, str], log_dir: Path) -> "ServiceProcesses":
        log_dir.mkdir(parents=True, exist_ok=True)
        procs = {}
        for name in SERVICES:
            with (log_dir / f"{name}.log").open("ab") as log:
                procs[name] = subprocess.Popen(
                    [sys.executable, "-m", f"services.{name}"], env=env,
                    stdout=log, stderr=subprocess.STDOUT,
                )
        return cls(procs)

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"service {name} exited with code {proc.returncode}")

    def stop(self, timeout: float = 20.0) -> None:
        stop_processes(list(self.procs.values()), timeout)


def stop_processes(procs: list[subprocess.Popen[bytes]], timeout: float = 20.0) -> None:
    """SIGTERM every process, SIGKILL what has not exited within ``timeout`` s."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in procs:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def simulate(settings: Settings, households: int, seed: int, procs: ServiceProcesses,
                   progress: Progress) -> tuple[Simulation, list[dict]]:
    await ensure_topics(settings.kafka_bootstrap_servers, settings.replication_factor)
    engine = make_engine(settings.database_url)
    producer = make_producer(settings.kafka_bootstrap_servers, "demo-agency-systems")
    await producer.start()
    try:
        definitions = list(all_definitions(settings).values())
        await migrate_all(engine, definitions)
        sim = Simulation(
            settings.kafka_bootstrap_servers, engine, producer, definitions,
            generate(households, seed),
            settings.pseudonym_key.get_secret_value().encode(), start=START,
        )
        task = progress.add_task("simulated months", total=MONTHS + 1)

        def on_month(month: int) -> None:
            procs.check_alive()
            progress.update(task, completed=month + 1,
                            description=f"month {month}/{MONTHS}, {sim.published} records")

        await sim.run(on_month)
        async with engine.connect() as conn:
            rows = await funnel(conn)
        return sim, rows
    finally:
        await producer.stop()
        await engine.dispose()


async def story_household(settings: Settings, sim: Simulation) -> str:
    """A household that graduated, with the longest timeline: the fullest story."""
    engine = make_engine(settings.database_url, pool_size=1)
    refs = [sim.ref(p) for p in sim.plans]
    try:
        async with engine.connect() as conn:
            graduated = set((await conn.execute(
                select(entries.c.household_ref).where(
                    entries.c.type == "social.household.graduated.v1",
                    entries.c.household_ref.in_(refs)))).scalars())
            counts = {}
            for ref in graduated or refs:
                counts[ref] = len((await conn.execute(
                    select(entries.c.event_id).where(entries.c.household_ref == ref))).all())
    finally:
        await engine.dispose()
    return max(counts, key=lambda r: (counts[r], r))


def run_demo(settings: Settings, households: int, seed: int, out_dir: Path,
             log_dir: Path) -> None:
    console = Console(width=None if sys.stdout.isatty() else 140)
    http_port = free_port()
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
           "DATABASE_URL": settings.database_url, "SINERGI_HTTP_PORT": str(http_port)}
    console.print(f"Starting services {', '.join(SERVICES)} (logs in {log_dir})")
    procs = ServiceProcesses.start(env, log_dir)
    try:
        began = time.monotonic()
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn())
        with Progress(*columns, console=console) as progress:
            sim, rows = asyncio.run(simulate(settings, households, seed, procs, progress))
        console.print(f"{households} households, {sim.published} agency records, "
                      f"{MONTHS} months in {time.monotonic() - began:.0f}s\n")
        console.print(funnel_table(rows))
        ref = asyncio.run(story_household(settings, sim))
        wait_for_http(f"http://127.0.0.1:{http_port}/healthz", procs, within=30)
        show_timeline(console, http_port, ref)
        chart = write_funnel_chart(rows, out_dir / "funnel.png")
        console.print(f"\nFunnel chart written to {chart}")
    finally:
        procs.stop()


def wait_for_http(url: str, procs: ServiceProcesses, within: float) -> None:
    deadline = time.monotonic() + within
    while True:
        procs.check_alive()
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the timeline API at {url} did not answer") from None
        time.sleep(0.1)


def show_timeline(console: Console, http_port: int, ref: str) -> None:
    url = f"http://127.0.0.1:{http_port}/households/{ref}/timeline"
    token = parse_tokens(Settings().api_tokens.get_secret_value())["operators"]
    response = httpx.get(url, timeout=10, headers={"Authorization": f"Bearer {token}"})
    response.raise_for_status()
    console.print(f"One household's story — GET {url}")
    console.print(timeline_table(ref, response.json()["entries"]))
