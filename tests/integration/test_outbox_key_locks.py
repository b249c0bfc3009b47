"""Per key, outbox ids are allocated in commit order: a second transaction writing a key
takes its id only once the first one that wrote it has committed."""

import asyncio
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts.events.social import HousingFlagged, HousingNeed
from services.runtime.tables import ServiceTables
from services.runtime.unit_of_work import UnitOfWork
from tests.support import create_tables, until

pytestmark = pytest.mark.integration

TABLES = ServiceTables("key_lock_test")


@pytest.fixture(scope="module")
async def schema(engine: AsyncEngine) -> ServiceTables:
    return await create_tables(engine, TABLES)


async def emit_flag(uow: UnitOfWork, ref: str) -> None:
    await uow.emit(HousingFlagged(household_ref=ref, region_code="6472", village="Loa Bakung",
                                  needs=[HousingNeed.CLEAN_WATER]),
                   subject=ref, correlationid=ref, causationid=None)


async def lock_waiters(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")) or 0)


async def test_a_second_writer_of_a_key_takes_its_outbox_id_after_the_first_commits(
    engine: AsyncEngine, schema: ServiceTables
) -> None:
    shared, other = "h-" + uuid.uuid4().hex, "h-" + uuid.uuid4().hex
    async with UnitOfWork(engine, schema, "sinergi/key-lock-test") as first:
        await emit_flag(first, shared)
        await first.flush()  # holds the key's lock until it commits

        async def second_writer() -> int:
            async with UnitOfWork(engine, schema, "sinergi/key-lock-test") as second:
                await emit_flag(second, shared)
                await second.commit()
            return second.outgoing[0][0]  # its outbox id

        waiting = await lock_waiters(engine)
        second = asyncio.create_task(second_writer())
        await until(lambda: _more(engine, waiting), within=30,
                    what="the second writer waiting for the key's lock")
        # Meanwhile a writer of another key is not held up: it takes an id and commits.
        async with UnitOfWork(engine, schema, "sinergi/key-lock-test") as third:
            await emit_flag(third, other)
            await third.commit()
        assert not second.done()
        await first.commit()
    second_id = await asyncio.wait_for(second, 30)
    [first_id], [third_id] = [r[0] for r in first.outgoing], [r[0] for r in third.outgoing]
    # Its id was drawn after the lock was granted, so after the third writer's: had the
    # statement allocated ids before taking the locks, it would be below.
    assert first_id < third_id < second_id


async def _more(engine: AsyncEngine, than: int) -> bool:
    return await lock_waiters(engine) > than
