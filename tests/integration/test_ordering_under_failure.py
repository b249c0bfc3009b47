"""A transient failure holds its partition: the record behind it waits, nothing is skipped.

This is the pitfall of FastStream issue #2618 (a failed record followed by a successful one
had its offset committed past it) turned into a test.
"""

from pathlib import Path

import pytest
from aiokafka import TopicPartition
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts.catalogue import SOCIAL_HOUSING
from contracts.codec import Event, encode
from contracts.envelope import new_envelope
from contracts.events.social import HousingFlagged, HousingNeed
from services.runtime.consumer import Subscription
from services.runtime.service import ServiceDefinition, ServiceRuntime
from services.runtime.settings import Settings
from services.runtime.unit_of_work import UnitOfWork
from services.timeline.tables import TABLES
from tests.support import committed_offset, fresh_intakes, until

pytestmark = pytest.mark.integration


async def test_record_behind_a_transient_failure_waits_and_neither_is_skipped(
    stack_settings: Settings, engine: AsyncEngine, producer
) -> None:
    ref = "h-" + fresh_intakes(1)[0].kk_number.rjust(32, "0")
    ids = []
    for village in ("first", "second"):
        env = new_envelope(type="social.housing.flagged.v1", source="test", subject=ref,
                           correlationid=ref, causationid=None)
        headers, payload = encode(env, HousingFlagged(
            household_ref=ref, region_code="6403", village=village,
            needs=[HousingNeed.SANITATION]))
        meta = await producer.send_and_wait(SOCIAL_HOUSING.name, value=payload,
                                            key=ref.encode(), headers=headers)
        ids.append(env.id)
    attempts: list[str] = []
    handled: list[str] = []

    async def flaky(event: Event, uow: UnitOfWork) -> None:
        if event.data.household_ref != ref:
            return
        attempts.append(event.data.village)
        if attempts.count("first") < 3 and event.data.village == "first":
            raise ConnectionRefusedError("database unavailable (simulated)")
        handled.append(event.data.village)

    group = f"test.flaky.{ref[-8:]}"
    definition = ServiceDefinition("timeline", TABLES, Path("unused"),
                                   [Subscription(group, (SOCIAL_HOUSING.name,), flaky)])
    runtime = ServiceRuntime(definition, stack_settings, engine)
    await runtime.start(relay=False, migrate_schema=False)
    try:
        tp = TopicPartition(meta.topic, meta.partition)
        await until(lambda: _committed_past(stack_settings, group, tp, meta.offset),
                    what="both records to be consumed")
    finally:
        await runtime.stop()

    assert attempts == ["first", "first", "first", "second"]
    assert handled == ["first", "second"]


async def _committed_past(settings: Settings, group: str, tp: TopicPartition, offset: int) -> bool:
    return await committed_offset(settings, group, tp) > offset
