"""Engines and migrations. Each service owns one PostgreSQL schema."""

import asyncio
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def make_engine(url: str, pool_size: int = 5) -> AsyncEngine:
    # orjson: the timeline writes every entry's JSONB data, the relay reads the JSONB
    # headers of rows it did not commit itself; the standard library's json was a tenth
    # of a service's time.
    # No pre-ping: it costs a round trip per transaction, and a connection that died with
    # a database restart already fails as transient (retried, and the pool drops it).
    # Hidden parameters: an error's text (a traceback's last line) would otherwise carry
    # the statement's values, on Dinsos's side and the intake API's NIK and KK numbers.
    return create_async_engine(
        url, pool_size=pool_size, pool_pre_ping=False, hide_parameters=True,
        json_serializer=_dumps, json_deserializer=orjson.loads,
    )


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _upgrade(connection: Connection, migrations: Path, schema: str) -> None:
    # Services starting together would race on the version table: one migrates at a time.
    connection.execute(text("SELECT pg_advisory_xact_lock(hashtext(:s))"), {"s": schema})
    connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    config = Config()
    config.set_main_option("script_location", str(migrations))
    config.attributes["connection"] = connection
    config.attributes["schema"] = schema
    command.upgrade(config, "head")


async def migrate(engine: AsyncEngine, migrations: Path, schema: str) -> None:
    """Bring a service's schema to the newest migration."""
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade, migrations, schema)


def migrate_sync(url: str, migrations: Path, schema: str) -> None:
    async def run() -> None:
        engine = make_engine(url, pool_size=1)
        try:
            await migrate(engine, migrations, schema)
        finally:
            await engine.dispose()

    asyncio.run(run())
