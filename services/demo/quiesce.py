"""Waiting until the whole pipeline is at rest: every outbox sent, every group caught up."""

import asyncio
import time

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.demo.records import partitions_of
from services.runtime.db import migrate
from services.runtime.service import ServiceDefinition


async def _unsent(engine: AsyncEngine, definitions: list[ServiceDefinition]) -> int:
    total = 0
    async with engine.connect() as conn:
        for d in definitions:
            total += int(await conn.scalar(
                select(func.count()).select_from(d.tables.outbox_unsent)) or 0)
    return total


async def _behind(bootstrap: str, definitions: list[ServiceDefinition]) -> int:
    """Records on subscribed topics that their consumer group has not committed yet."""
    topics = sorted({t for d in definitions for s in d.subscriptions for t in s.topics})
    partitions = await partitions_of(bootstrap, topics)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await consumer.start()
    await admin.start()
    try:
        ends = await consumer.end_offsets(partitions)
        behind = 0
        for d in definitions:
            for sub in d.subscriptions:
                mine = [tp for tp in partitions if tp.topic in sub.topics]
                committed = await admin.list_consumer_group_offsets(sub.name, partitions=mine)
                for tp in mine:
                    meta = committed.get(tp)
                    done = meta.offset if meta is not None and meta.offset >= 0 else 0
                    behind += max(0, ends[tp] - done)
        return behind
    finally:
        await admin.close()
        await consumer.stop()


async def migrate_all(engine: AsyncEngine, definitions: list[ServiceDefinition]) -> None:
    """Every service's schema, before services or drain checks look for their tables."""
    for d in definitions:
        await migrate(engine, d.migrations, d.tables.schema)


async def wait_until_drained(
    bootstrap: str, engine: AsyncEngine, definitions: list[ServiceDefinition],
    within: float = 300.0,
) -> None:
    """Return once every outbox is empty and every group has consumed every record.

    Checked twice in a row with fresh end offsets: a relay may publish between the two
    halves of one check.
    """
    deadline = time.monotonic() + within
    quiet = 0
    while quiet < 2:
        try:
            behind = await _behind(bootstrap, definitions)
        except KafkaError:  # e.g. the group coordinator of a fresh broker is not ready yet
            behind = -1
        unsent = await _unsent(engine, definitions)
        quiet = quiet + 1 if behind == 0 and unsent == 0 else 0
        if time.monotonic() > deadline:
            raise TimeoutError(f"pipeline not drained after {within}s: {behind} records behind, "
                               f"{unsent} unsent outbox rows")
        if quiet < 2:
            await asyncio.sleep(0.1)
