"""``make demo``: the stack, the three services as processes, households flowing through."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from rich.console import Console
from sqlalchemy import func, select

from contracts.events.intake import HouseholdIntake
from services.cli.render import timeline_table
from services.demo.households import publish_intake, sample_households
from services.runtime.db import make_engine
from services.runtime.kafka import ensure_topics, make_producer
from services.runtime.settings import Settings
from services.social.pseudonym import household_ref
from services.social.rules import housing_needs
from services.stack.common import free_port
from services.timeline.tables import entries

SERVICES = ("social", "public_works", "timeline")


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
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in self.procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def expected_entries(intake: HouseholdIntake) -> int:
    """registered + assessed, and if there are needs: the flag and one ticket per need."""
    needs = housing_needs(intake.housing, len(intake.members))
    return 2 + (1 + len(needs) if needs else 0)


async def wait_for_timelines(
    settings: Settings, expected: dict[str, int], procs: ServiceProcesses, within: float
) -> None:
    engine = make_engine(settings.database_url, pool_size=1)
    deadline = time.monotonic() + within
    try:
        while True:
            procs.check_alive()
            try:
                async with engine.connect() as conn:
                    rows = await conn.execute(
                        select(entries.c.household_ref, func.count())
                        .where(entries.c.household_ref.in_(list(expected)))
                        .group_by(entries.c.household_ref)
                    )
                    counts = dict(rows.tuples().all())
            except Exception:  # the timeline service has not created its schema yet
                counts = {}
            if all(counts.get(ref, 0) >= n for ref, n in expected.items()):
                return
            if time.monotonic() > deadline:
                done = sum(counts.get(r, 0) >= n for r, n in expected.items())
                raise TimeoutError(f"only {done}/{len(expected)} timelines complete")
            await asyncio.sleep(0.2)
    finally:
        await engine.dispose()


async def publish_households(settings: Settings, intakes: list[HouseholdIntake]) -> None:
    await ensure_topics(settings.kafka_bootstrap_servers, settings.replication_factor)
    producer = make_producer(settings.kafka_bootstrap_servers, "dinsos-case-system")
    await producer.start()
    try:
        for i, intake in enumerate(intakes, 1):
            await publish_intake(producer, intake, case_number=f"DEMO-{i:05d}")
    finally:
        await producer.stop()


def run_demo(settings: Settings, households: int, show: int, log_dir: Path) -> None:
    console = Console(width=None if sys.stdout.isatty() else 140)
    intakes = sample_households(households)
    key = settings.pseudonym_key.get_secret_value().encode()
    refs = {household_ref(key, i.kk_number): i for i in intakes}
    http_port = free_port()
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
           "DATABASE_URL": settings.database_url, "SINERGI_HTTP_PORT": str(http_port)}
    console.print(f"Starting services {', '.join(SERVICES)} (logs in {log_dir})")
    procs = ServiceProcesses.start(env, log_dir)
    try:
        began = time.monotonic()
        asyncio.run(publish_households(settings, intakes))
        console.print(f"Dinsos case system published {len(intakes)} household intake records")
        expected = {ref: expected_entries(i) for ref, i in refs.items()}
        asyncio.run(wait_for_timelines(settings, expected, procs, within=120))
        console.print(f"All {len(refs)} timelines complete in {time.monotonic() - began:.1f}s\n")
        wait_for_http(f"http://127.0.0.1:{http_port}/healthz", procs, within=30)
        most_needs = sorted(refs, key=lambda r: -expected[r])
        for ref in most_needs[:show]:
            show_timeline(console, http_port, ref)
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
    response = httpx.get(url, timeout=10)
    response.raise_for_status()
    console.print(f"GET {url}")
    console.print(timeline_table(ref, response.json()["entries"]))
