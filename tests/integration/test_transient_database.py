"""PostgreSQL stops while a record is being handled: the record is retried with backoff
until the database is back, then has its effect once, and the records behind it follow in
order. Meanwhile /readyz names the database and the metrics count the retries."""

import asyncio
import dataclasses
import os
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts.catalogue import SOCIAL_HOUSEHOLD, SOCIAL_INTAKE
from contracts.codec import Event, encode
from services.demo.households import intake_envelope
from services.runtime.health import health_app
from services.runtime.service import ServiceRuntime
from services.runtime.settings import Settings
from services.runtime.unit_of_work import UnitOfWork
from services.social.pseudonym import household_ref
from services.social.tables import households
from services.stack import Stack
from tests.conftest import REPO
from tests.integration.test_intake_api import metric
from tests.support import definitions, fresh_intakes, read_all, until

pytestmark = pytest.mark.integration


def the_test_stack() -> Stack:
    return Stack(Path(os.environ.get("SINERGI_TEST_STACK_DIR", REPO / ".stack" / "test")))


async def test_a_record_caught_by_a_database_outage_is_retried_and_handled_once_in_order(
    stack_settings: Settings, engine: AsyncEngine, producer
) -> None:
    stack = the_test_stack()
    if {p.name: p.state for p in stack.status()}.get("postgres") != "running":
        pytest.skip("PostgreSQL is not managed by the test stack: it cannot be stopped here")
    first, second, third = fresh_intakes(3)
    ours = {i.kk_number for i in (first, second, third)}
    definition = definitions(stack_settings)["social"]
    [intake] = [s for s in definition.subscriptions if s.name == "social.intake"]
    attempts: list[str] = []
    stopped = asyncio.Event()

    async def outage_during_first(event: Event, uow: UnitOfWork) -> None:
        kk = getattr(event.data, "kk_number", None)
        if kk in ours:
            attempts.append(kk)
        if kk == first.kk_number and not stopped.is_set():
            await asyncio.to_thread(stack.stop_part, "postgres")
            stopped.set()
        await intake.handler(event, uow)

    runtime = ServiceRuntime(dataclasses.replace(definition, subscriptions=[
        dataclasses.replace(intake, handler=outage_during_first)]), stack_settings, engine)
    ids: list[UUID] = []
    for record in (first, second, third):
        envelope = intake_envelope(f"CASE-{record.kk_number[-6:]}")
        headers, payload = encode(envelope, record)
        await producer.send_and_wait(SOCIAL_INTAKE.name, value=payload, partition=1,
                                     key=record.kk_number.encode(), headers=headers)
        ids.append(envelope.id)
    await runtime.start()
    transport = httpx.ASGITransport(app=health_app(runtime))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://social") as client:
            await until(lambda: _flag(stopped), within=120, what="PostgreSQL stopped mid-record")
            await until(lambda: _retries(runtime, 3), within=120, what="three retries")
            during = await client.get("/readyz")
            await asyncio.to_thread(stack.start_part, "postgres")
            await until(lambda: _registered(engine, stack_settings, ours), within=120,
                        what="all three households registered after the outage")
            after = await client.get("/readyz")
            kks = [first.kk_number, second.kk_number, third.kk_number]
            refs = {household_ref(_key(stack_settings), kk).encode() for kk in kks}
            registered = await until(lambda: _registrations(stack_settings, refs), within=120,
                                     what="the relay publishing the three registrations")
    finally:
        await runtime.stop()

    assert during.status_code == 503 and during.json()["failing"] == ["database"]
    assert after.status_code == 200, after.text
    assert attempts[0] == first.kk_number and attempts.count(first.kk_number) >= 2
    assert list(dict.fromkeys(attempts)) == kks  # nothing behind the first ran before it
    assert attempts[-2:] == kks[1:]
    async with engine.connect() as conn:
        claimed = await conn.scalar(text(
            "SELECT count(*) FROM social.inbox WHERE consumer = 'social.intake' "
            "AND event_id = ANY(:ids)"), {"ids": ids})
    assert claimed == 3
    assert sorted(r.key for r in registered) == sorted(refs)  # each exactly once


async def _registrations(settings: Settings, refs: set[bytes]) -> list[Any]:
    found = [r for r in await read_all(settings, [SOCIAL_HOUSEHOLD.name])
             if r.key in refs and dict(r.headers)["ce_type"] == b"social.household.registered.v1"]
    return found if {r.key for r in found} == refs else []


async def _flag(event: asyncio.Event) -> bool:
    return event.is_set()


async def _retries(runtime: ServiceRuntime, at_least: int) -> bool:
    count = metric(runtime.metrics.exposition().decode(), "sinergi_transient_failures_total",
                   consumer="social.intake", event_type="intake.household.v1")
    return (count or 0) >= at_least


def _key(settings: Settings) -> bytes:
    return settings.pseudonym_key.get_secret_value().encode()


async def _registered(engine: AsyncEngine, settings: Settings, kks: set[str]) -> bool:
    refs = [household_ref(_key(settings), kk) for kk in kks]
    try:
        async with engine.connect() as conn:
            count = await conn.scalar(select(func.count()).select_from(households)
                                      .where(households.c.household_ref.in_(refs)))
    except Exception:  # the session's pool reconnects once PostgreSQL is back
        return False
    return count == len(kks)
