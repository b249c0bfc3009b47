"""The relay sends what the outbox table says, in its order, from memory when it can."""

import uuid
from collections.abc import AsyncIterator

import pytest
from aiokafka.partitioner import DefaultPartitioner
from sqlalchemy import Text, cast, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts.catalogue import SOCIAL_HOUSING
from contracts.events.social import HousingFlagged, HousingNeed
from services.runtime.kafka import make_producer
from services.runtime.relay import Committed, OutboxRelay, outgoing
from services.runtime.settings import Settings
from services.runtime.tables import ServiceTables
from services.runtime.unit_of_work import UnitOfWork
from tests.support import create_tables, read_all, until

pytestmark = pytest.mark.integration

TABLES = ServiceTables("relay_test")


@pytest.fixture(scope="module")
async def relay_schema(engine: AsyncEngine) -> ServiceTables:
    return await create_tables(engine, TABLES)


@pytest.fixture
async def kafka_producer(stack_settings: Settings) -> AsyncIterator:
    producer = make_producer(stack_settings.kafka_bootstrap_servers, "relay-test")
    await producer.start()
    yield producer
    await producer.stop()


async def commit_flags(engine: AsyncEngine, tables: ServiceTables,
                       count: int) -> tuple[list[str], list[Committed]]:
    refs = ["h-" + uuid.uuid4().hex for _ in range(count)]
    async with UnitOfWork(engine, tables, "sinergi/relay-test") as uow:
        for ref in refs:
            await uow.emit(HousingFlagged(household_ref=ref, region_code="6472",
                                          village="Sungai Pinang", needs=[HousingNeed.SANITATION]),
                           subject=ref, correlationid=ref, causationid=None)
        await uow.commit()
    return refs, uow.outgoing


async def drain(relay: OutboxRelay) -> None:
    while await relay.relay_batch():
        pass


async def published(settings: Settings, refs: list[str]) -> list[tuple]:
    """Key, partition, headers and value of each record of ``refs`` on the topic."""
    wanted = {ref.encode() for ref in refs}
    return [(r.key, r.partition, tuple(r.headers), r.value)
            for r in await read_all(settings, [SOCIAL_HOUSING.name]) if r.key in wanted]


async def test_a_record_sent_from_memory_equals_the_one_read_from_the_table(
    stack_settings: Settings, engine: AsyncEngine, relay_schema: ServiceTables, kafka_producer
) -> None:
    refs, outgoing = await commit_flags(engine, relay_schema, 3)
    from_memory = OutboxRelay(engine, relay_schema, kafka_producer)
    from_memory.committed(outgoing)
    await drain(from_memory)
    assert from_memory.kept == 0
    await from_memory.close()
    first = await published(stack_settings, refs)

    # The same rows again, by a relay that has nothing in memory: it reads the table.
    outbox = relay_schema.outbox
    async with engine.begin() as conn:
        unsent = (await conn.execute(update(outbox).where(outbox.c.key.in_(refs))
                                     .values(sent_at=None).returning(outbox.c.id))).scalars()
        await conn.execute(relay_schema.outbox_unsent.insert(), [{"id": i} for i in unsent])
    from_table = OutboxRelay(engine, relay_schema, kafka_producer)
    await drain(from_table)
    await from_table.close()
    both = await published(stack_settings, refs)

    assert len(first) == 3
    assert sorted(both) == sorted(first + first)
    partitions = list(range(SOCIAL_HOUSING.partitions))  # as the Java client would choose
    assert [p for _, p, _, _ in first] == [DefaultPartitioner()(k, partitions, partitions)
                                          for k, _, _, _ in first]


async def test_records_another_relay_sent_are_forgotten_not_sent_again(
    stack_settings: Settings, engine: AsyncEngine, relay_schema: ServiceTables, kafka_producer
) -> None:
    refs, outgoing = await commit_flags(engine, relay_schema, 4)
    this_process = OutboxRelay(engine, relay_schema, kafka_producer)
    this_process.committed(outgoing)
    other_process = OutboxRelay(engine, relay_schema, kafka_producer)
    await drain(other_process)
    # While the other process's relay lives it holds the lock: this one publishes nothing.
    assert await this_process.relay_batch() == 0
    assert this_process.kept == 4
    await other_process.close()  # its process stops

    assert await this_process.relay_batch() == 0
    assert this_process.kept == 0
    await this_process.close()
    assert len(await published(stack_settings, refs)) == 4


async def test_past_its_bound_the_relay_keeps_nothing_and_reads_the_table(
    stack_settings: Settings, engine: AsyncEngine, relay_schema: ServiceTables, kafka_producer
) -> None:
    refs, outgoing = await commit_flags(engine, relay_schema, 5)
    relay = OutboxRelay(engine, relay_schema, kafka_producer, max_ready=4)
    relay.committed(outgoing)
    assert relay.kept == 0
    await drain(relay)
    await relay.close()

    outbox = relay_schema.outbox
    async with engine.connect() as conn:
        unsent = (await conn.execute(select(outbox.c.id).where(
            outbox.c.key.in_(refs), outbox.c.sent_at.is_(None)))).all()
    assert unsent == []
    assert sorted(key for key, _, _, _ in await published(stack_settings, refs)) == \
        sorted(ref.encode() for ref in refs)


async def test_sent_rows_past_the_keep_period_are_pruned_and_unsent_rows_never(
    engine: AsyncEngine, relay_schema: ServiceTables, kafka_producer
) -> None:
    refs, outgoing = await commit_flags(engine, relay_schema, 3)
    relay = OutboxRelay(engine, relay_schema, kafka_producer, keep_sent_seconds=3600)
    relay.committed(outgoing)
    await drain(relay)
    old_sent, recent_sent, unsent = refs
    outbox = relay_schema.outbox
    async with engine.begin() as conn:
        await conn.execute(update(outbox).where(outbox.c.key == old_sent).values(
            sent_at=func.now() - text("interval '2 hours'")))
        await conn.execute(update(outbox).where(outbox.c.key == unsent).values(
            sent_at=None, created_at=func.now() - text("interval '2 days'")))

    assert await relay.prune_sent() >= 1
    await relay.close()

    async with engine.connect() as conn:
        left = set((await conn.execute(select(outbox.c.key).where(
            outbox.c.key.in_(refs)))).scalars())
    assert left == {recent_sent, unsent}


async def test_a_relay_without_a_keep_period_prunes_nothing(
    engine: AsyncEngine, relay_schema: ServiceTables, kafka_producer
) -> None:
    refs, outgoing = await commit_flags(engine, relay_schema, 1)
    relay = OutboxRelay(engine, relay_schema, kafka_producer)
    relay.committed(outgoing)
    await drain(relay)
    outbox = relay_schema.outbox
    async with engine.begin() as conn:
        await conn.execute(update(outbox).where(outbox.c.key == refs[0]).values(
            sent_at=func.now() - text("interval '30 days'")))

    assert await relay.prune_sent() == 0
    await relay.close()
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(outbox).where(
            outbox.c.key == refs[0])) == 1


async def test_marking_rows_sent_takes_them_off_the_unsent_list_in_hot_updates(
    engine: AsyncEngine, kafka_producer
) -> None:
    tables = await create_tables(engine, ServiceTables(f"relay_hot_{uuid.uuid4().hex[:8]}"))
    # Enough rows to fill pages: a mark finds room on its row's page only as the fill
    # factor left it.
    refs, outgoing = await commit_flags(engine, tables, 300)
    async with engine.connect() as conn:
        listed = (await conn.execute(select(tables.outbox_unsent.c.id))).scalars().all()
    assert sorted(listed) == sorted(row[0] for row in outgoing)
    relay = OutboxRelay(engine, tables, kafka_producer)
    relay.committed(outgoing)
    await drain(relay)
    await relay.close()

    async def updates() -> tuple[int, int]:
        async with engine.connect() as conn:
            row = (await conn.execute(text(
                "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables "
                "WHERE schemaname = :s AND relname = 'outbox'"), {"s": tables.schema})).one()
        return int(row[0]), int(row[1])

    # The relay's backend reports its counts within a second of going idle.
    await until(lambda: _counted(updates, len(refs)), what="the relay's updates to be counted")
    assert await updates() == (len(refs), len(refs))  # each mark a HOT update
    assert await relay.backlog() == 0
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(tables.outbox).where(
            tables.outbox.c.sent_at.is_(None))) == 0


async def _counted(updates, at_least: int) -> bool:
    return (await updates())[0] >= at_least


async def test_an_unsent_row_deleted_by_hand_is_dropped_from_the_list_not_retried(
    stack_settings: Settings, engine: AsyncEngine, relay_schema: ServiceTables, kafka_producer
) -> None:
    refs, _ = await commit_flags(engine, relay_schema, 3)
    outbox = relay_schema.outbox
    async with engine.begin() as conn:
        await conn.execute(outbox.delete().where(outbox.c.key == refs[0]))
    relay = OutboxRelay(engine, relay_schema, kafka_producer)  # nothing in memory: reads back
    await drain(relay)
    assert await relay.backlog() == 0
    await relay.close()
    assert sorted(key for key, _, _, _ in await published(stack_settings, refs)) == \
        sorted(ref.encode() for ref in refs[1:])


async def test_each_row_handed_to_the_relay_carries_the_id_the_table_gave_it(
    engine: AsyncEngine, relay_schema: ServiceTables
) -> None:
    refs, handed = await commit_flags(engine, relay_schema, 8)
    outbox = relay_schema.outbox
    async with engine.connect() as conn:
        stored = (await conn.execute(
            select(outbox.c.id, outbox.c.topic, outbox.c.key, cast(outbox.c.headers, Text),
                   outbox.c.payload).where(outbox.c.key.in_(refs)))).all()
    assert len(handed) == len(refs)
    assert sorted(map(outgoing, handed), key=lambda r: r.id) == \
        sorted((outgoing(tuple(r)) for r in stored), key=lambda r: r.id)


async def test_the_relay_vacuums_its_unsent_list_after_taking_enough_rows_off_it(
    engine: AsyncEngine, kafka_producer
) -> None:
    tables = await create_tables(engine, ServiceTables(f"relay_vac_{uuid.uuid4().hex[:8]}"))
    relay = OutboxRelay(engine, tables, kafka_producer, vacuum_every_rows=5, batch_size=3)
    _, outgoing = await commit_flags(engine, tables, 4)
    relay.committed(outgoing)
    await drain(relay)  # rounds of 3 and 1: 4 rows taken off, no vacuum yet
    assert relay.vacuums == 0
    _, outgoing = await commit_flags(engine, tables, 2)
    relay.committed(outgoing)
    await drain(relay)
    await relay.close()
    assert relay.vacuums == 1

    async def vacuumed() -> bool:
        async with engine.connect() as conn:
            return bool(await conn.scalar(text(
                "SELECT vacuum_count FROM pg_stat_user_tables "
                "WHERE schemaname = :s AND relname = 'outbox_unsent'"), {"s": tables.schema}))

    await until(vacuumed, what="the unsent list's vacuum to be counted")
