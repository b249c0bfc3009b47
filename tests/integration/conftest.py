from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from services.runtime.db import make_engine, migrate
from services.runtime.kafka import ensure_topics, make_producer
from services.runtime.settings import Settings
from tests.support import definitions


@pytest.fixture(scope="session")
async def engine(stack_settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(stack_settings.database_url, pool_size=10)
    for d in definitions(stack_settings).values():
        await migrate(engine, d.migrations, d.tables.schema)
    await ensure_topics(stack_settings.kafka_bootstrap_servers)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def producer(stack_settings: Settings) -> AsyncIterator:
    producer = make_producer(stack_settings.kafka_bootstrap_servers, "test-agency-system")
    await producer.start()
    yield producer
    await producer.stop()
