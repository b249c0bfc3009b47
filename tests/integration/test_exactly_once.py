"""Redelivery and relay crashes change nothing: every effect exists exactly once."""

import pytest
from aiokafka import TopicPartition
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from contracts.catalogue import DEAD_LETTER, SOCIAL_HOUSING
from contracts.codec import encode
from contracts.envelope import new_envelope
from contracts.events.social import HousingFlagged, HousingNeed
from services.demo.households import publish_intake
from services.public_works.tables import tickets
from services.runtime.relay import OutboxRelay
from services.runtime.settings import Settings
from services.social.pseudonym import household_ref
from services.social.rules import housing_needs
from services.social.tables import TABLES as SOCIAL
from services.social.tables import households
from services.timeline.bootstrap import AGENCY_TOPICS
from services.timeline.tables import entries
from tests.support import (
    committed_offset,
    consumed_to_end,
    fresh_intakes,
    read_all,
    running,
    until,
)

pytestmark = pytest.mark.integration


async def tickets_of(engine: AsyncEngine, ref: str) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(tickets.c.need).where(tickets.c.household_ref == ref))
        return sorted(rows.scalars().all())


async def deliver(producer, headers, payload: bytes, key: str) -> TopicPartition:
    meta = await producer.send_and_wait(SOCIAL_HOUSING.name, value=payload, key=key.encode(),
                                        headers=headers)
    return TopicPartition(meta.topic, meta.partition), meta.offset


async def consumed_past(settings: Settings, tp: TopicPartition, offset: int) -> bool:
    return await committed_offset(settings, "public_works.housing_flags", tp) > offset


async def test_redelivered_flag_opens_no_second_ticket_even_after_a_restart(
    stack_settings: Settings, engine: AsyncEngine, producer
) -> None:
    ref = "h-" + fresh_intakes(1)[0].kk_number.rjust(32, "0")
    flag = HousingFlagged(household_ref=ref, region_code="6411", village="Long Bagun",
                          needs=[HousingNeed.CLEAN_WATER, HousingNeed.SANITATION])
    envelope = new_envelope(type="social.housing.flagged.v1", source="sinergi/social",
                            subject=ref, correlationid=ref, causationid=None)
    headers, payload = encode(envelope, flag)

    async with running(stack_settings, engine, "public_works"):
        for _ in range(2):  # the same event, twice: what a relay crash produces
            tp, offset = await deliver(producer, headers, payload, ref)
            await until(lambda tp=tp, offset=offset: consumed_past(stack_settings, tp, offset),
                        what="the copy to be consumed")
        assert await tickets_of(engine, ref) == ["clean_water_connection", "sanitation"]

    async with running(stack_settings, engine, "public_works"):  # a restarted consumer
        tp, offset = await deliver(producer, headers, payload, ref)
        await until(lambda: consumed_past(stack_settings, tp, offset),
                    what="the copy after restart to be consumed")
    assert await tickets_of(engine, ref) == ["clean_water_connection", "sanitation"]
    # The copies were dropped by the inbox, not refused by a constraint and dead-lettered.
    letters = await read_all(stack_settings, [DEAD_LETTER.name])
    assert not [r for r in letters if dict(r.headers).get("ce_id") == str(envelope.id).encode()]


class CrashAfterPublish(OutboxRelay):
    """A relay that dies after the broker acknowledged the batch, before marking it sent."""

    async def _mark_sent_and_pick(self, conn: AsyncConnection, ids: list[int]) -> list[int]:
        raise RuntimeError("relay killed between publish and mark-sent")


async def unsent(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        outbox = SOCIAL.outbox
        return int(await conn.scalar(
            select(func.count()).select_from(outbox).where(outbox.c.sent_at.is_(None))) or 0)


async def timeline_count(engine: AsyncEngine, ref: str) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(
            select(func.count()).select_from(entries).where(entries.c.household_ref == ref)))


async def test_relay_stopped_after_commit_delivers_every_event_once_on_restart(
    stack_settings: Settings, engine: AsyncEngine, producer
) -> None:
    intakes = fresh_intakes(3)
    key = stack_settings.pseudonym_key.get_secret_value().encode()
    expected = {household_ref(key, i.kk_number): housing_needs(i.housing, len(i.members))
                for i in intakes}

    # Social commits state and outbox rows, but its relay is down: nothing is published.
    async with running(stack_settings, engine, "social", relay=False) as services:
        for n, intake in enumerate(intakes):
            await publish_intake(producer, intake, f"CASE-RELAY-{n}")

        async def all_committed() -> bool:
            async with engine.connect() as conn:
                count = await conn.scalar(select(func.count()).select_from(households).where(
                    households.c.household_ref.in_(list(expected))))
            return count == len(expected)

        await until(all_committed, what="the intakes to be committed")
        waiting = await unsent(engine)
        assert waiting >= 3 * len(expected)  # registered, assessed, flagged per household

        # A relay that crashes after publishing but before marking: the rows stay unsent...
        social = services["social"]
        crashing = CrashAfterPublish(engine, SOCIAL, social.producer, batch_size=10_000)
        with pytest.raises(RuntimeError, match="killed"):
            await crashing.relay_batch()
        assert await unsent(engine) == waiting

        # ...and the restarted relay publishes them all again.
        async with running(stack_settings, engine, "public_works", "timeline"):
            social.start_relay()
            for ref, needs in expected.items():
                total = 3 + len(needs)
                await until(lambda ref=ref, total=total: _at_least(engine, ref, total),
                            what=f"timeline of {ref}")
            await until(lambda: _none_unsent(engine), what="the outbox to drain")
            # Both copies of every relayed event must be consumed before counting.
            for group, topics in (
                ("public_works.housing_flags", [SOCIAL_HOUSING.name]),
                ("timeline.projection", list(AGENCY_TOPICS)),
            ):
                await until(lambda g=group, t=topics: consumed_to_end(stack_settings, g, t),
                            what=f"{group} to consume every copy")
            for ref, needs in expected.items():
                assert await tickets_of(engine, ref) == sorted(n.value for n in needs)
                # every event social emitted (referral, eligibility too) and each ticket, once
                emitted = await social_events(engine, ref)
                assert emitted >= 3
                assert await timeline_count(engine, ref) == emitted + len(needs)
    # The second copies were dropped by the inboxes, not refused by a key and dead-lettered.
    letters = await read_all(stack_settings, [DEAD_LETTER.name])
    assert not [r for r in letters if r.key and r.key.decode() in expected]


async def social_events(engine: AsyncEngine, ref: str) -> int:
    async with engine.connect() as conn:
        outbox = SOCIAL.outbox
        return int(await conn.scalar(
            select(func.count()).select_from(outbox).where(outbox.c.key == ref)))


async def _at_least(engine: AsyncEngine, ref: str, total: int) -> bool:
    return await timeline_count(engine, ref) >= total


async def _none_unsent(engine: AsyncEngine) -> bool:
    return await unsent(engine) == 0
