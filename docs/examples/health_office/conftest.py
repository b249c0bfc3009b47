"""Fixtures of the example's tests: Sinergi's real stack, its topics, a database pool and a
producer standing in for Sinergi's services.

Only the tests touch ``services`` (to provision Kafka and PostgreSQL the way Sinergi's own
tests do, in SINERGI_TEST_STACK_DIR); the example's code imports ``contracts`` alone.
"""

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from services.runtime.kafka import ensure_topics
from services.stack import Stack

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def sinergi_env() -> Iterator[dict[str, str]]:
    """KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL of a running stack (started if need be)."""
    stack = Stack(Path(os.environ.get("SINERGI_TEST_STACK_DIR", REPO / ".stack" / "test")))
    was_running = {s.name for s in stack.status() if s.state == "running"}
    stack.up()
    try:
        yield stack.env()
    finally:
        if not was_running:
            stack.down(purge=True)


@pytest.fixture(scope="session")
async def kafka(sinergi_env: dict[str, str]) -> str:
    """The bootstrap servers, with every catalogue topic created (as Sinergi does at start)."""
    servers = sinergi_env["KAFKA_BOOTSTRAP_SERVERS"]
    await ensure_topics(servers)
    return servers


@pytest.fixture(scope="session")
async def db(sinergi_env: dict[str, str]) -> AsyncIterator[asyncpg.Pool]:
    url = sinergi_env["DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://", 1)
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
async def agency(kafka: str) -> AsyncIterator[AIOKafkaProducer]:
    """A producer standing in for a Sinergi service's outbox relay."""
    producer = AIOKafkaProducer(bootstrap_servers=kafka, acks="all", enable_idempotence=True)
    await producer.start()
    yield producer
    await producer.stop()
