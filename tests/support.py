"""Helpers for tests on the real stack: running services in-process, awaiting outcomes."""

import asyncio
import os
import random
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts.events.intake import HouseholdIntake
from services.demo import records
from services.demo.deployment import all_definitions
from services.demo.households import sample_household
from services.runtime.service import ServiceDefinition, ServiceRuntime
from services.runtime.settings import Settings
from services.runtime.tables import ServiceTables
from services.stack import Stack

REPO = Path(__file__).resolve().parents[1]


async def create_tables(engine: AsyncEngine, tables: ServiceTables) -> ServiceTables:
    """A throwaway schema with a service's runtime tables (outbox, inbox), for tests of the
    runtime alone."""
    async with engine.begin() as conn:
        await conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {tables.schema}")
        await conn.run_sync(tables.metadata.create_all)
    return tables


def definitions(settings: Settings) -> dict[str, ServiceDefinition]:
    return all_definitions(settings)


@asynccontextmanager
async def running(
    settings: Settings, engine: AsyncEngine, *names: str, relay: bool = True
) -> AsyncIterator[dict[str, ServiceRuntime]]:
    """Start the named services in this process; stop them on exit."""
    defs = definitions(settings)
    runtimes = {n: ServiceRuntime(defs[n], settings, engine) for n in names}
    started = []
    try:
        for runtime in runtimes.values():
            await runtime.start(relay=relay)
            started.append(runtime)
        yield runtimes
    finally:
        for runtime in reversed(started):
            await runtime.stop()


async def until(
    check: Callable[[], Awaitable[Any]], within: float = 60.0, what: str = "condition"
) -> Any:
    """Await a state the system reaches asynchronously; fail with ``what`` after ``within`` s."""
    deadline = time.monotonic() + within
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.05)


def fresh_intakes(count: int, *, needs_housing: bool = True) -> list[HouseholdIntake]:
    """Households no other test has (random KK and NIK numbers), all with housing needs."""
    rng = random.Random()
    out = []
    while len(out) < count:
        intake = sample_household(rng, datetime.now(UTC).date())
        if needs_housing and intake.housing.has_clean_water and intake.housing.has_healthy_latrine:
            intake = intake.model_copy(
                update={"housing": intake.housing.model_copy(update={"has_clean_water": False})}
            )
        out.append(intake)
    return out


async def partitions_of(settings: Settings, topics: list[str]) -> list[TopicPartition]:
    return await records.partitions_of(settings.kafka_bootstrap_servers, topics)


async def read_all(settings: Settings, topics: list[str]) -> list[Any]:
    """Every record currently on ``topics``, from the beginning to the end offsets."""
    return await records.read_topics(settings.kafka_bootstrap_servers, topics)


async def committed_offset(settings: Settings, group: str, tp: TopicPartition) -> int:
    """The offset ``group`` has committed on ``tp`` (0 if none)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group, partitions=[tp])
    finally:
        await admin.close()
    meta = offsets.get(tp)
    return meta.offset if meta is not None and meta.offset >= 0 else 0


async def consumed_to_end(settings: Settings, group: str, topics: list[str]) -> bool:
    """Whether ``group`` has committed every record currently on ``topics``."""
    partitions = await partitions_of(settings, topics)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
    for tp in partitions:
        if ends[tp] and await committed_offset(settings, group, tp) < ends[tp]:
            return False
    return True


def own_stack(name: str, timeout: float = 120, **shape: Any) -> Iterator[Stack]:
    """A Kafka of its own of the given ``shape`` (``Stack`` keywords), fresh, in
    ``<test stack dir>.<name>``; no PostgreSQL. For a fixture: ``yield from``."""
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS") and shutil.which("java") is None:
        pytest.skip("runs a Kafka of its own, which needs a JDK; only external servers here")
    base = Path(os.environ.get("SINERGI_TEST_STACK_DIR", REPO / ".stack" / "test"))
    stack = Stack(base.parent / f"{base.name}.{name}", postgres=False, **shape)
    stack.down(purge=True)
    stack.up(timeout=timeout)
    try:
        yield stack
    finally:
        stack.down(purge=True)


def secured_stack(name: str) -> Iterator[Stack]:
    """A SASL/SCRAM Kafka with the access table's ACLs, fresh (logins, ACLs, topics)."""
    return own_stack(name, secured=True)
