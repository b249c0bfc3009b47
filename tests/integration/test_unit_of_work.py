"""The unit of work's transaction: one statement alone when it only writes, a transaction
otherwise, and the connection it hands back to the pool as transactional as it came."""

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts.events.social import HousingFlagged, HousingNeed
from services.runtime.db import make_engine
from services.runtime.settings import Settings
from services.runtime.tables import ServiceTables
from services.runtime.unit_of_work import AlreadyHandled, UnitOfWork
from tests.support import create_tables

pytestmark = pytest.mark.integration


@pytest.fixture
async def one_connection(stack_settings: Settings) -> AsyncIterator[AsyncEngine]:
    """An engine with a single pooled connection: every unit of work gets the same one."""
    engine = make_engine(stack_settings.database_url, pool_size=1)
    yield engine
    await engine.dispose()


def flag(ref: str) -> HousingFlagged:
    return HousingFlagged(household_ref=ref, region_code="6472", village="Sungai Pinang",
                          needs=[HousingNeed.SANITATION])


async def outbox_rows(engine: AsyncEngine, tables: ServiceTables, ref: str) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(tables.outbox).where(
            tables.outbox.c.key == ref)) or 0)


async def test_a_unit_of_work_after_a_write_only_one_still_rolls_back_as_a_whole(
    one_connection: AsyncEngine
) -> None:
    tables = await create_tables(one_connection, ServiceTables(f"uow_{uuid.uuid4().hex[:8]}"))
    written, undone = "h-" + uuid.uuid4().hex, "h-" + uuid.uuid4().hex
    async with UnitOfWork(one_connection, tables, "sinergi/uow-test") as uow:
        await uow.emit(flag(written), subject=written, correlationid=written, causationid=None)
        await uow.commit()  # writes only: its one statement without BEGIN and COMMIT
    assert await outbox_rows(one_connection, tables, written) == 1

    # The same pooled connection: a statement, then a failure before commit.
    with pytest.raises(RuntimeError, match="handler failed"):
        async with UnitOfWork(one_connection, tables, "sinergi/uow-test") as uow:
            await uow.claim_many("uow-test", [uuid.uuid4()])
            await uow.emit(flag(undone), subject=undone, correlationid=undone,
                           causationid=None)
            await uow.flush()
            raise RuntimeError("handler failed")
    assert await outbox_rows(one_connection, tables, undone) == 0


async def test_a_write_only_unit_of_work_claiming_a_handled_event_commits_nothing(
    engine: AsyncEngine
) -> None:
    tables = await create_tables(engine, ServiceTables(f"uow_{uuid.uuid4().hex[:8]}"))
    handled, ref = uuid.uuid4(), "h-" + uuid.uuid4().hex
    async with UnitOfWork(engine, tables, "sinergi/uow-test") as uow:
        await uow.claim_many("uow-test", [handled])
        await uow.commit()
    with pytest.raises(AlreadyHandled):
        async with UnitOfWork(engine, tables, "sinergi/uow-test") as uow:
            uow.claim_at_commit("uow-test", [uuid.uuid4(), handled])
            await uow.emit(flag(ref), subject=ref, correlationid=ref, causationid=None)
            await uow.commit()
    assert await outbox_rows(engine, tables, ref) == 0
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(tables.inbox)) == 1
