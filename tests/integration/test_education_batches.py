"""Education enrols a whole batch's referred children in one statement, with the outcome
handling them one by one gives."""

import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts.catalogue import SOCIAL_EDUCATION
from contracts.codec import encode
from contracts.envelope import new_envelope
from contracts.events.social import Child, EducationReferred
from services.education.tables import TABLES, pupils
from services.runtime.consumer import Outcome
from services.runtime.deadletter import Record
from services.runtime.service import ServiceRuntime
from services.runtime.settings import Settings
from tests.support import definitions

pytestmark = pytest.mark.integration


def referral(ref: str, offset: int, children: list[Child]) -> tuple[Record, uuid.UUID]:
    envelope = new_envelope(type="social.education.referred.v1", source="sinergi/social",
                            subject=ref, correlationid=ref, causationid=None)
    headers, payload = encode(envelope, EducationReferred(
        household_ref=ref, region_code="6402", children=children))
    return Record(SOCIAL_EDUCATION.name, 0, offset, ref.encode(), payload,
                  tuple(headers)), envelope.id


async def test_a_child_in_two_referrals_of_one_batch_is_enrolled_once_by_the_earlier(
    stack_settings: Settings, engine: AsyncEngine
) -> None:
    ref = "h-" + uuid.uuid4().hex
    twice, once = Child(person_ref="p-" + uuid.uuid4().hex, age=9), \
        Child(person_ref="p-" + uuid.uuid4().hex, age=15)
    first, first_id = referral(ref, 1, [twice])
    second, _ = referral(ref, 2, [twice, once])
    runtime = ServiceRuntime(definitions(stack_settings)["education"], stack_settings, engine)
    sub = next(s for s in runtime.definition.subscriptions if s.name == "education.referrals")
    await runtime.producer.start()
    try:
        outcomes = await runtime.processor.process_batch(sub, [first, second])
    finally:
        await runtime.producer.stop()
    assert outcomes == [Outcome.PROCESSED, Outcome.PROCESSED]
    outbox = TABLES.outbox
    async with engine.connect() as conn:
        enrolled_by = dict((await conn.execute(select(
            pupils.c.person_ref, pupils.c.referral_event_id).where(
            pupils.c.household_ref == ref))).all())
        announced = (await conn.execute(select(outbox.c.payload).where(
            outbox.c.key == ref))).scalars().all()
    assert enrolled_by[twice.person_ref] == first_id
    assert set(enrolled_by) == {twice.person_ref, once.person_ref}
    assert sorted(p.count(b"p-") for p in announced) == [1, 1]
    assert sum(twice.person_ref.encode() in p for p in announced) == 1


@pytest.mark.parametrize("one_batch", [True, False])
async def test_a_child_referred_by_another_household_moves_there_and_is_announced_there(
    stack_settings: Settings, engine: AsyncEngine, one_batch: bool
) -> None:
    old, new = "h-" + uuid.uuid4().hex, "h-" + uuid.uuid4().hex
    child, sibling = Child(person_ref="p-" + uuid.uuid4().hex, age=9), \
        Child(person_ref="p-" + uuid.uuid4().hex, age=12)
    first, first_id = referral(old, 1, [child, sibling])
    second, second_id = referral(new, 2, [child])  # the family card split: one child moved
    again, _ = referral(new, 3, [child])  # a later referral by the same household: no move
    runtime = ServiceRuntime(definitions(stack_settings)["education"], stack_settings, engine)
    sub = next(s for s in runtime.definition.subscriptions if s.name == "education.referrals")
    await runtime.producer.start()
    try:
        if one_batch:
            outcomes = await runtime.processor.process_batch(sub, [first, second, again])
        else:
            outcomes = [o for r in (first, second, again)
                        for o in await runtime.processor.process_batch(sub, [r])]
    finally:
        await runtime.producer.stop()
    assert outcomes == [Outcome.PROCESSED] * 3
    outbox = TABLES.outbox
    async with engine.connect() as conn:
        now = dict((await conn.execute(select(pupils.c.person_ref, pupils.c.household_ref).where(
            pupils.c.person_ref.in_([child.person_ref, sibling.person_ref])))).all())
        moved_by = await conn.scalar(select(pupils.c.referral_event_id).where(
            pupils.c.person_ref == child.person_ref))
        announced = (await conn.execute(select(outbox.c.key, outbox.c.payload).where(
            outbox.c.key.in_([old, new])))).all()
    assert now == {child.person_ref: new, sibling.person_ref: old}
    assert moved_by == second_id != first_id
    assert sorted((key, child.person_ref.encode() in payload) for key, payload in announced) == (
        sorted([(old, False), (old, True), (new, True)]))
