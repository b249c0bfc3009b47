"""Housing flag → works ticket → shared timeline, on real Kafka and PostgreSQL."""

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts.catalogue import INTAKE_DEAD_LETTER, SOCIAL_INTAKE
from contracts.events.intake import HouseholdIntake
from services.demo.households import intake_envelope, publish_intake
from services.public_works.tables import tickets
from services.runtime.settings import Settings
from services.social.pseudonym import household_ref
from services.social.rules import housing_needs
from services.social.tables import households
from services.timeline.queries import household_timeline
from tests.support import fresh_intakes, read_all, running, until

pytestmark = pytest.mark.integration

HOUSING_PATH = {"social.household.registered.v1", "social.housing.assessed.v1",
                "social.housing.flagged.v1", "public_works.ticket.opened.v1"}


def ref_of(settings: Settings, intake: HouseholdIntake) -> str:
    return household_ref(settings.pseudonym_key.get_secret_value().encode(), intake.kk_number)


async def timeline_of(engine: AsyncEngine, ref: str) -> list[dict]:
    async with engine.connect() as conn:
        return await household_timeline(conn, ref)


async def test_housing_flag_becomes_one_ticket_per_need_caused_by_the_flag(
    stack_settings: Settings, engine: AsyncEngine, producer
) -> None:
    [intake] = fresh_intakes(1)
    ref = ref_of(stack_settings, intake)
    needs = housing_needs(intake.housing, len(intake.members))
    async with running(stack_settings, engine, "social", "public_works", "timeline"):
        await publish_intake(producer, intake, "CASE-FLOW")

        async def complete() -> list[dict]:
            entries = [e for e in await timeline_of(engine, ref) if e["type"] in HOUSING_PATH]
            return entries if len(entries) == 3 + len(needs) else []

        entries = await until(complete, what="registration, assessment, flag and tickets")

    types = [e["type"] for e in entries]
    assert types[:3] == ["social.household.registered.v1", "social.housing.assessed.v1",
                         "social.housing.flagged.v1"]
    assert types[3:] == ["public_works.ticket.opened.v1"] * len(needs)
    flag = entries[2]
    assert flag["causation_id"] == entries[1]["event_id"]
    assert all(t["causation_id"] == flag["event_id"] for t in entries[3:])
    assert {e["correlation_id"] for e in entries} == {ref}
    async with engine.connect() as conn:
        opened = (await conn.execute(
            select(tickets.c.need).where(tickets.c.household_ref == ref))).scalars().all()
    assert sorted(opened) == sorted(n.value for n in needs)


async def test_malformed_intake_is_dead_lettered_and_the_partition_goes_on(
    stack_settings: Settings, engine: AsyncEngine, producer
) -> None:
    [good] = fresh_intakes(1)
    key = good.kk_number.encode()  # same key, so the same partition, right behind the bad one
    bad_envelope = intake_envelope("CASE-BAD")
    bad = await producer.send_and_wait(
        SOCIAL_INTAKE.name, value=b'{"kk_number": "123', key=key,
        headers=bad_envelope.to_headers(),
    )
    async with running(stack_settings, engine, "social", "timeline"):
        await publish_intake(producer, good, "CASE-GOOD")
        await until(lambda: timeline_of(engine, ref_of(stack_settings, good)),
                    what="the valid record behind the bad one")

    letters = [
        r for r in await read_all(stack_settings, [INTAKE_DEAD_LETTER.name])
        if dict(r.headers).get("ce_id") == str(bad_envelope.id).encode()
    ]
    assert len(letters) == 1
    headers = dict(letters[0].headers)
    assert headers["dlq_reason"] == b"malformed_json"
    assert headers["dlq_topic"] == SOCIAL_INTAKE.name.encode()
    assert headers["dlq_partition"] == str(bad.partition).encode()
    assert headers["dlq_offset"] == str(bad.offset).encode()
    assert headers["dlq_consumer_group"] == b"social.intake"
    assert letters[0].value == b'{"kk_number": "123'


async def test_intake_with_an_unknown_region_is_refused_with_the_field_named(
    stack_settings: Settings, engine: AsyncEngine, producer
) -> None:
    [intake] = fresh_intakes(1)
    envelope = intake_envelope("CASE-REGION")
    payload = intake.model_dump_json().replace(
        f'"region_code":"{intake.region_code}"', '"region_code":"6499"').encode()
    await producer.send_and_wait(SOCIAL_INTAKE.name, value=payload,
                                 key=intake.kk_number.encode(), headers=envelope.to_headers())
    async with running(stack_settings, engine, "social"):
        async def dead_lettered() -> list:
            return [r for r in await read_all(stack_settings, [INTAKE_DEAD_LETTER.name])
                    if dict(r.headers).get("ce_id") == str(envelope.id).encode()]

        [letter] = await until(dead_lettered, what="the dead letter")
    headers = dict(letter.headers)
    assert headers["dlq_reason"] == b"schema_violation"
    assert b"region_code" in headers["dlq_detail"] and b"6499" in headers["dlq_detail"]
    async with engine.connect() as conn:
        count = await conn.scalar(select(func.count()).select_from(households).where(
            households.c.household_ref == ref_of(stack_settings, intake)))
    assert count == 0
