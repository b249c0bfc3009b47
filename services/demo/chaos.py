"""Chaos for the province simulation: the services killed, the broker and database restarted.

``plan_chaos`` draws, from a seed, when each service process is SIGKILLed (twice each by
default) and in which simulated month the Kafka broker and PostgreSQL are each restarted
(SIGKILL, then started again on the same ports with the same data). ``ChaosMonkey`` runs
the services as processes and carries the plan out; its watchdog restarts any service
that dies on its own and records it as a crash. ``ChaosSimulation`` replays the year and
lets the monkey loose in each month once that month's agency records are on the broker,
so the chaos lands while the services are busy and never on the agencies' own publishing.
"""

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka.errors import KafkaError
from sqlalchemy.exc import DBAPIError

from contracts.catalogue import spec_for
from contracts.codec import encode
from contracts.envelope import new_envelope
from services.demo.deployment import SERVICES
from services.demo.generator import MONTHS, HouseholdPlan
from services.demo.quiesce import wait_until_drained
from services.demo.run import stop_processes
from services.demo.simulation import Outgoing, Simulation
from services.stack import Stack
from services.stack.stack import Part

BROKER: Part = "kafka"
DATABASE: Part = "postgres"


@dataclass(frozen=True)
class Action:
    phase: int
    """The simulated month (0 = intake) during whose processing the action fires."""
    delay: float
    """Seconds after the previous action of the phase (or its records being published)."""
    target: str
    """A service name, ``kafka`` or ``postgres``."""
    downtime: float = 0.0
    """Seconds a killed service stays down before it is started again."""


def plan_chaos(seed: int, kills_each: int = 2, phases: int = MONTHS + 1) -> list[Action]:
    """Every service killed ``kills_each`` times in distinct months; broker and database
    restarted once each, in two different months after the intake month."""
    rng = random.Random(seed)
    actions = [
        Action(phase, round(rng.uniform(0.1, 2.0), 2), name, round(rng.uniform(0.2, 2.0), 2))
        for name in SERVICES for phase in rng.sample(range(phases), kills_each)
    ]
    for target, phase in zip((BROKER, DATABASE), rng.sample(range(1, phases), 2), strict=True):
        actions.append(Action(phase, round(rng.uniform(0.1, 1.0), 2), target))
    return sorted(actions, key=lambda a: (a.phase, a.target))


@dataclass(frozen=True)
class Crash:
    """A service that exited without being killed: a finding, not part of the plan."""

    service: str
    returncode: int
    phase: int
    log_tail: str


@dataclass
class ChaosMonkey:
    stack: Stack
    env: dict[str, str]
    log_dir: Path
    actions: list[Action]
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    kills: Counter[str] = field(default_factory=Counter)
    restarts: Counter[str] = field(default_factory=Counter)
    crashes: list[Crash] = field(default_factory=list)
    phase: int = 0
    _chaotic: set[str] = field(default_factory=set)

    def start_services(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for name in SERVICES:
            self._spawn(name)

    def _spawn(self, name: str) -> None:
        with (self.log_dir / f"{name}.log").open("ab") as log:
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", f"services.{name}"], env=self.env,
                stdout=log, stderr=subprocess.STDOUT,
            )

    async def run_phase(self, phase: int) -> None:
        """Carry out this phase's actions, one after the other."""
        self.phase = phase
        for action in (a for a in self.actions if a.phase == phase):
            await asyncio.sleep(action.delay)
            if action.target in SERVICES:
                await self._kill_and_restart(action.target, action.downtime)
            else:
                part: Part = BROKER if action.target == BROKER else DATABASE
                await asyncio.to_thread(self.stack.restart, part, True, 180.0)
                self.restarts[action.target] += 1

    async def _kill_and_restart(self, name: str, downtime: float) -> None:
        self._chaotic.add(name)
        try:
            proc = self.procs[name]
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                await asyncio.to_thread(proc.wait)
                self.kills[name] += 1
            await asyncio.sleep(downtime)
            self._spawn(name)
        finally:
            self._chaotic.discard(name)

    async def watch(self, every: float = 0.5) -> None:
        """Restart a service that exited on its own, recording it as a crash; runs until
        cancelled."""
        while True:
            for name, proc in list(self.procs.items()):
                if name not in self._chaotic and proc.poll() is not None:
                    tail = (self.log_dir / f"{name}.log").read_text(errors="replace")
                    self.crashes.append(Crash(name, proc.returncode, self.phase,
                                              "\n".join(tail.splitlines()[-15:])))
                    self._spawn(name)
            await asyncio.sleep(every)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM every service, SIGKILL what has not exited within ``timeout`` s."""
        stop_processes(list(self.procs.values()), timeout)


@dataclass
class ChaosSimulation(Simulation):
    """The year of ``Simulation``, with the monkey let loose in each month."""

    monkey: ChaosMonkey | None = None
    drain_within: float = 900.0
    drain_seconds: list[float] = field(default_factory=list)
    """Per month: from the month's last chaos action to the pipeline being at rest."""
    _chaos: "asyncio.Task[None] | None" = None

    async def _send(self, outgoing: Iterator[Outgoing]) -> None:
        # Every record is acknowledged before chaos starts: the agencies' systems are not
        # under test, only what Sinergi does with records it has received.
        futures = []
        for out in outgoing:
            spec = spec_for(type(out.data))
            subject = self.subject(out)
            envelope = new_envelope(type=spec.type, source=out.source, subject=subject,
                                    correlationid=subject, causationid=None)
            headers, payload = encode(envelope, out.data)
            futures.append(await self.producer.send(spec.topic, value=payload,
                                                    key=out.key.encode(), headers=headers))
            self.published += 1
        await asyncio.gather(*futures)
        if self.monkey is not None:
            self._chaos = asyncio.create_task(self.monkey.run_phase(len(self.drain_seconds)))

    async def _drain(self) -> None:
        if self._chaos is not None:
            await self._chaos
        began = time.monotonic()
        await drain_despite_outages(self.bootstrap, self.engine, self.definitions,
                                    self.drain_within)
        self.drain_seconds.append(time.monotonic() - began)


async def drain_despite_outages(bootstrap: str, engine: Any, definitions: list[Any],
                                within: float) -> None:
    """``wait_until_drained``, retried while the broker or database is coming back."""
    deadline = time.monotonic() + within
    while True:
        try:
            await wait_until_drained(bootstrap, engine, definitions,
                                     within=max(1.0, deadline - time.monotonic()))
            return
        except (DBAPIError, OSError, KafkaError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


def fresh_identities(plans: list[HouseholdPlan], tag: int) -> list[HouseholdPlan]:
    """The same plans under KK and NIK numbers carrying ``tag`` (six digits): households
    that no earlier run on the same stack has registered, with the same seeded story."""
    relabelled = []
    for n, plan in enumerate(plans):
        intake = plan.intake
        niks = {m.nik: f"{intake.region_code}{tag:06d}{n * 30 + i:06d}"
                for i, m in enumerate(intake.members)}
        members = [m.model_copy(update={"nik": niks[m.nik]}) for m in intake.members]
        kk = f"{intake.region_code}{tag:06d}{n:06d}"
        relabelled.append(HouseholdPlan(
            intake.model_copy(update={"kk_number": kk, "members": members}), plan.tickets,
            plan.grant, plan.incomes, {niks[nik]: pct for nik, pct in plan.attendance.items()},
        ))
    return relabelled


def run_tag() -> int:
    """Six digits unlikely to repeat between runs on one stack."""
    return int.from_bytes(os.urandom(4), "big") % 1_000_000
