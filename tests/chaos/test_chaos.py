"""A province's year while a chaos monkey kills every service and restarts broker and database.

The four services run as processes. In seeded, random months and moments the monkey
SIGKILLs each of them (at least twice each) and starts it again, SIGKILLs the Kafka broker
once and PostgreSQL once and starts them again on the same ports and data. The services
must come through on their own: a service that exits without being killed is restarted by
the monkey's watchdog and fails ``test_no_service_died_on_its_own``.

What "lost" is measured against: not a second run without chaos, but what the plans
imply deterministically (``census.expected_effects``): one registration, assessment and
(if it has needs) housing flag per household; per housing need one ticket opened,
scheduled, started, then completed or rejected as planned, and one need resolved; per
school-age child one referral and one enrolment; per planned grant one award and eleven
mentoring visits; twelve income reports per household; the attendance alerts, dropout
risks and re-engagements the attendance rule gives on the planned months; one case
follow-up per dropout risk that exists. Graduation depends on timing, so it is checked by
its criteria: every graduate met them in Dinsos's own record when it graduated, and no
household meeting them at the end failed to graduate (counted as lost). Every event an
agency service emitted must have exactly one timeline entry. "Duplicated" counts any
second effect with the same natural key (``census.NATURAL_KEYS``), in the services'
outboxes and in the timeline.

Size: SINERGI_CHAOS_HOUSEHOLDS (default fits a few minutes on a small machine; ``make
chaos`` runs more). Seed: SINERGI_CHAOS_SEED.
"""

import asyncio
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from services.demo.chaos import (
    ChaosMonkey,
    ChaosSimulation,
    Crash,
    fresh_identities,
    plan_chaos,
    run_tag,
)
from services.demo.deployment import SERVICES, all_definitions
from services.demo.generator import generate
from services.demo.quiesce import migrate_all, wait_until_drained
from services.runtime.db import make_engine
from services.runtime.kafka import ensure_topics, make_producer
from services.runtime.settings import Settings
from services.stack import Stack
from services.stack.common import free_port
from tests.chaos import evidence
from tests.chaos.census import (
    Comparison,
    Key,
    compare,
    expected_effects,
    tally,
)

pytestmark = pytest.mark.chaos

HOUSEHOLDS = int(os.environ.get("SINERGI_CHAOS_HOUSEHOLDS", "120"))
SEED = int(os.environ.get("SINERGI_CHAOS_SEED", "5"))
REPO = Path(__file__).resolve().parents[2]
START = date(2025, 1, 1)


@dataclass
class ChaosRun:
    monkey: ChaosMonkey
    sim: ChaosSimulation
    seconds: float
    outbox: list[dict[str, Any]]
    timeline: list[dict[str, Any]]
    state: dict[str, Counter[Key]]
    dead_letters: list[Any]
    poverty_line: int
    figures: Comparison = field(default_factory=Comparison)
    graduation_faults: list[str] = field(default_factory=list)


def local_test_stack() -> Stack:
    return Stack(Path(os.environ.get("SINERGI_TEST_STACK_DIR", REPO / ".stack" / "test")))


@pytest.fixture(scope="module")
async def chaos_run(stack_settings: Settings) -> ChaosRun:
    stack = local_test_stack()
    if {s.state for s in stack.status()} != {"running"}:
        pytest.skip("chaos needs the broker and database of the local test stack to restart")
    bootstrap = stack_settings.kafka_bootstrap_servers
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
           "DATABASE_URL": stack_settings.database_url, "SINERGI_HTTP_PORT": str(free_port()),
           "PYTHONPATH": os.pathsep.join(filter(None, (str(REPO), os.environ.get("PYTHONPATH"))))}
    await ensure_topics(bootstrap)
    engine = make_engine(stack_settings.database_url)
    services = all_definitions(stack_settings)
    definitions = list(services.values())
    await migrate_all(engine, definitions)
    monkey = ChaosMonkey(stack, env, REPO / "test-output" / "chaos-logs", plan_chaos(SEED))
    producer = make_producer(bootstrap, "chaos-agency-systems")
    began = time.monotonic()
    monkey.start_services()
    watchdog = asyncio.create_task(monkey.watch())
    try:
        # Records earlier tests left unconsumed (some refused on purpose) are handled first,
        # so the dead letters counted below are this run's alone.
        await wait_until_drained(bootstrap, engine, definitions, within=300)
        letters_before = await evidence.end_offsets(bootstrap)
        await producer.start()
        sim = ChaosSimulation(
            bootstrap, engine, producer, definitions,
            fresh_identities(generate(HOUSEHOLDS, SEED), run_tag()),
            stack_settings.pseudonym_key.get_secret_value().encode(), start=START, monkey=monkey,
        )
        await sim.run()
        seconds = time.monotonic() - began
        refs = [sim.ref(p) for p in sim.plans]
        run = ChaosRun(monkey, sim, seconds, await evidence.outbox(engine, services, refs),
                       await evidence.timeline(engine, refs), await evidence.state(engine, refs),
                       await evidence.new_dead_letters(bootstrap, letters_before),
                       stack_settings.poverty_line)
        run.graduation_faults = await evidence.graduation_faults(
            engine, run.outbox, refs, run.poverty_line)
    finally:
        watchdog.cancel()
        await producer.stop()
        await engine.dispose()
        await asyncio.to_thread(monkey.stop)
    _count(run)
    return run


def _count(run: ChaosRun) -> None:
    sim = run.sim
    expected = expected_effects(sim.plans, sim.pseudonym_key, run.poverty_line, START)
    expected["social.case.follow_up_opened.v1"] = {
        (str(r["event_id"]),) for r in run.outbox if r["type"] == "education.dropout.risk.v1"}
    emitted = {**tally((r["type"], r["data"]) for r in run.outbox), **run.state}
    compare(expected, emitted, run.figures, "outbox")
    compare({}, tally((e["type"], e["data"]) for e in run.timeline), run.figures, "timeline")
    projected = Counter(e["event_id"] for e in run.timeline)
    for row in run.outbox:
        if projected[row["event_id"]] == 0:
            run.figures.lost["timeline entry"] += 1
            run.figures.examples.append(f"timeline: no entry for {row['type']} {row['event_id']}")
        run.figures.duplicated["timeline entry"] += max(0, projected[row["event_id"]] - 1)
    phantom = set(projected) - {r["event_id"] for r in run.outbox}
    run.figures.unexpected["timeline entry"] += len(phantom)
    run.figures.lost["graduation"] += sum("never graduated" in f for f in run.graduation_faults)


def figures_table(run: ChaosRun) -> str:
    monkey, sim, fig = run.monkey, run.sim, run.figures
    graduated = sum(r["type"] == "social.household.graduated.v1" for r in run.outbox)
    reasons = Counter(dict(r.headers).get("dlq_reason", b"?").decode() for r in run.dead_letters)
    lines = [
        f"Chaos run: {len(sim.plans)} households, seed {SEED}, {len(SERVICES)} services",
        f"  agency records published       {sim.published}",
        f"  events emitted (outboxes)      {len(run.outbox)}",
        f"  timeline entries               {len(run.timeline)}",
        "  kills (SIGKILL)                " + ", ".join(
            f"{s} {monkey.kills[s]}" for s in SERVICES),
        f"  broker restarts                {monkey.restarts['kafka']}",
        f"  database restarts              {monkey.restarts['postgres']}",
        f"  services that died on their own {len(monkey.crashes)}",
        f"  dead-lettered                  {len(run.dead_letters)} {dict(reasons)}",
        f"  graduated households           {graduated}",
        f"  lost                           {sum(fig.lost.values())} {_nonzero(fig.lost)}",
        f"  duplicated                     {sum(fig.duplicated.values())} "
        f"{_nonzero(fig.duplicated)}",
        f"  unexpected                     {sum(fig.unexpected.values())} "
        f"{_nonzero(fig.unexpected)}",
        f"  unsent outbox rows             {sum(not r['sent'] for r in run.outbox)}",
        f"  time to drain after chaos      max {max(sim.drain_seconds):.1f}s, "
        f"last month {sim.drain_seconds[-1]:.1f}s",
        f"  whole run                      {run.seconds:.0f}s",
    ]
    return "\n".join(lines + [f"  ! {e}" for e in fig.examples[:20]])


def _nonzero(counts: Counter[str]) -> dict[str, int]:
    return {k: v for k, v in counts.items() if v}


def test_a_year_under_chaos_loses_no_effect_and_doubles_none(chaos_run: ChaosRun,
                                                              capsys) -> None:
    table = figures_table(chaos_run)
    out = REPO / "test-output" / "chaos-figures.txt"
    out.parent.mkdir(exist_ok=True)
    out.write_text(table + "\n")
    with capsys.disabled():
        print("\n" + table)
    assert sum(chaos_run.figures.lost.values()) == 0, chaos_run.figures.examples[:20]
    assert sum(chaos_run.figures.duplicated.values()) == 0, chaos_run.figures.examples[:20]
    assert sum(chaos_run.figures.unexpected.values()) == 0, chaos_run.figures.examples[:20]


def test_the_monkey_killed_every_service_twice_and_restarted_broker_and_database(
    chaos_run: ChaosRun,
) -> None:
    assert all(chaos_run.monkey.kills[s] >= 2 for s in SERVICES), chaos_run.monkey.kills
    assert chaos_run.monkey.restarts == Counter(kafka=1, postgres=1)


def test_every_outbox_is_empty_once_drained(chaos_run: ChaosRun) -> None:
    assert [r for r in chaos_run.outbox if not r["sent"]] == []


def test_every_graduate_met_the_criteria_and_every_eligible_household_graduated(
    chaos_run: ChaosRun,
) -> None:
    assert chaos_run.graduation_faults == []


def test_no_record_was_dead_lettered(chaos_run: ChaosRun) -> None:
    """The year's records are all valid: a dead letter here is an outage taken for a fault."""
    assert [dict(r.headers).get("dlq_detail") for r in chaos_run.dead_letters] == []


def test_no_service_died_on_its_own(chaos_run: ChaosRun) -> None:
    crashes: list[Crash] = chaos_run.monkey.crashes
    assert crashes == [], "\n\n".join(
        f"{c.service} exited with {c.returncode} in month {c.phase}:\n{c.log_tail}"
        for c in crashes)
