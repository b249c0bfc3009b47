"""Referral → enrolment, attendance → alerts, dropout risk, re-engagement, on the real stack."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts.base import Contract
from contracts.catalogue import (
    DEAD_LETTER,
    EDUCATION_INTAKE,
    EDUCATION_PUPIL,
    SOCIAL_EDUCATION,
    spec_for,
)
from contracts.codec import Event, decode, encode
from contracts.envelope import Envelope, new_envelope
from contracts.events.education import AttendanceReport
from contracts.events.social import Child, EducationReferred
from services.education.bootstrap import build
from services.education.tables import attendance, pupils
from services.runtime.service import ServiceRuntime
from services.runtime.settings import Settings
from tests.support import consumed_to_end, read_all, until

pytestmark = pytest.mark.integration


def new_ref(prefix: str) -> str:
    return f"{prefix}-{uuid4().hex}"


@asynccontextmanager
async def education(settings: Settings, engine: AsyncEngine) -> AsyncIterator[ServiceRuntime]:
    runtime = ServiceRuntime(build(), settings, engine)
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


async def publish(producer: Any, data: Contract, *, key: str, subject: str, source: str,
                  envelope: Envelope | None = None) -> Envelope:
    spec = spec_for(type(data))
    envelope = envelope or new_envelope(type=spec.type, source=source, subject=subject,
                                        correlationid=subject, causationid=None)
    headers, payload = encode(envelope, data)
    await producer.send_and_wait(spec.topic, value=payload, key=key.encode(), headers=headers)
    return envelope


async def refer(producer: Any, household: str, ages: dict[str, int],
                envelope: Envelope | None = None) -> Envelope:
    referral = EducationReferred(
        household_ref=household, region_code="6402",
        children=[Child(person_ref=p, age=a) for p, a in ages.items()])
    return await publish(producer, referral, key=household, subject=household,
                         source="sinergi/social", envelope=envelope)


async def report(producer: Any, person: str, month: str, present: int, days: int = 20,
                 key: str | None = None) -> Envelope:
    data = AttendanceReport(person_ref=person, month=month, school_days=days,
                            days_present=present)
    return await publish(producer, data, key=key or person, subject=person,
                         source="school-systems")


async def pupil_events(settings: Settings, household: str) -> list[Event]:
    records = await read_all(settings, [EDUCATION_PUPIL.name])
    return [decode(r.topic, r.headers, r.value) for r in records
            if r.key == household.encode()]


async def enrolled(engine: AsyncEngine, *people: str) -> bool:
    async with engine.connect() as conn:
        found = (await conn.execute(
            select(pupils.c.person_ref).where(pupils.c.person_ref.in_(people)))).all()
    return len(found) == len(people)


async def test_referral_enrols_each_child_once_at_the_level_for_its_age(
    stack_settings: Settings, engine: AsyncEngine, producer: Any
) -> None:
    household = new_ref("h")
    ages = {new_ref("p"): 7, new_ref("p"): 13, new_ref("p"): 18}
    async with education(stack_settings, engine) as runtime:
        first = await refer(producer, household, ages)

        async def three_enrolments() -> list[Event]:
            events = await pupil_events(stack_settings, household)
            return events if len(events) >= 3 else []

        events = await until(three_enrolments, what="three enrolments")
        await refer(producer, household, ages, envelope=first)  # the same record redelivered
        await refer(producer, household, ages)  # and a re-referral under a new event id

        async def settled() -> bool:
            return (await consumed_to_end(stack_settings, "education.referrals",
                                          [SOCIAL_EDUCATION.name])
                    and await runtime.relay.backlog() == 0)

        await until(settled, what="both copies consumed and the outbox drained")
        events = await pupil_events(stack_settings, household)

    assert [e.envelope.type for e in events] == ["education.pupil.enrolled.v1"] * 3
    assert {e.data.person_ref: e.data.level.value for e in events} == dict(
        zip(ages, ["SD", "SMP", "SMA"], strict=True))
    assert {(e.envelope.subject, e.envelope.correlationid, e.envelope.causationid)
            for e in events} == {(household, household, first.id)}


async def test_two_low_months_raise_one_dropout_risk_and_a_good_month_reengages(
    stack_settings: Settings, engine: AsyncEngine, producer: Any
) -> None:
    household, child = new_ref("h"), new_ref("p")
    async with education(stack_settings, engine):
        await refer(producer, household, {child: 10})
        await until(lambda: enrolled(engine, child), what="the child's enrolment")
        reports = [await report(producer, child, "2026-01", 16),
                   await report(producer, child, "2026-02", 14),
                   await report(producer, child, "2026-03", 18)]

        async def five_events() -> list[Event]:
            events = await pupil_events(stack_settings, household)
            return events if len(events) >= 5 else []

        events = await until(five_events, what="enrolment, alerts, risk and re-engagement")

    assert [e.envelope.type for e in events] == [
        "education.pupil.enrolled.v1", "education.attendance.alert.v1",
        "education.attendance.alert.v1", "education.dropout.risk.v1",
        "education.pupil.reengaged.v1"]
    _, jan, feb, risk, back = events
    assert (jan.data.month, jan.data.attendance_pct) == ("2026-01", 80.0)
    assert (feb.data.month, feb.data.attendance_pct) == ("2026-02", 70.0)
    assert (risk.data.month, risk.data.months_below) == ("2026-02", 2)
    assert (back.data.month, back.data.attendance_pct) == ("2026-03", 90.0)
    assert back.data.risk_event_id == risk.envelope.id
    assert [jan.envelope.causationid, feb.envelope.causationid, risk.envelope.causationid,
            back.envelope.causationid] == [reports[0].id, reports[1].id, feb.envelope.id,
                                           reports[2].id]
    async with engine.connect() as conn:
        pupil = (await conn.execute(select(pupils).where(pupils.c.person_ref == child))).one()
    assert not pupil.at_risk and pupil.risk_event_id == risk.envelope.id


async def test_attendance_for_an_unknown_pupil_is_dead_lettered_and_the_next_goes_through(
    stack_settings: Settings, engine: AsyncEngine, producer: Any
) -> None:
    household, child, stranger = new_ref("h"), new_ref("p"), new_ref("p")
    async with education(stack_settings, engine):
        await refer(producer, household, {child: 9})
        await until(lambda: enrolled(engine, child), what="the child's enrolment")
        # Same key as the known child's report, so the same partition, right in front of it.
        bad = await report(producer, stranger, "2026-01", 10, key=child)
        await report(producer, child, "2026-01", 10)

        async def alerted() -> list[Event]:
            return [e for e in await pupil_events(stack_settings, household)
                    if e.envelope.type == "education.attendance.alert.v1"]

        await until(alerted, what="the alert for the report behind the refused one")

    letters = [r for r in await read_all(stack_settings, [DEAD_LETTER.name])
               if dict(r.headers).get("ce_id") == str(bad.id).encode()]
    assert len(letters) == 1
    headers = dict(letters[0].headers)
    assert headers["dlq_reason"] == b"unknown_pupil"
    assert stranger.encode() in headers["dlq_detail"]
    assert headers["dlq_topic"] == EDUCATION_INTAKE.name.encode()
    assert headers["dlq_consumer_group"] == b"education.attendance"
    async with engine.connect() as conn:
        recorded = (await conn.execute(select(attendance.c.person_ref).where(
            attendance.c.person_ref.in_([child, stranger])))).scalars().all()
    assert recorded == [child]


async def test_a_month_reported_twice_after_a_later_one_or_not_yet_begun_is_refused(
    stack_settings: Settings, engine: AsyncEngine, producer: Any
) -> None:
    household, child = new_ref("h"), new_ref("p")
    async with education(stack_settings, engine):
        await refer(producer, household, {child: 11})
        await until(lambda: enrolled(engine, child), what="the child's enrolment")
        # A typed 2052 for 2026: recorded, it would put every true month out of order.
        typo = await report(producer, child, "2052-01", 18)
        await report(producer, child, "2026-02", 18)
        again = await report(producer, child, "2026-02", 5)
        earlier = await report(producer, child, "2026-01", 5)
        await report(producer, child, "2026-03", 19)

        async def march() -> list[Any]:
            async with engine.connect() as conn:
                return (await conn.execute(select(attendance.c.month).where(
                    attendance.c.person_ref == child,
                    attendance.c.month == "2026-03"))).all()

        await until(march, what="the report behind the two refused ones")

    letters = {dict(r.headers)["ce_id"]: dict(r.headers)
               for r in await read_all(stack_settings, [DEAD_LETTER.name])
               if dict(r.headers).get("ce_id") in (str(again.id).encode(),
                                                   str(earlier.id).encode(),
                                                   str(typo.id).encode())}
    assert letters[str(typo.id).encode()]["dlq_reason"] == b"month_in_future"
    assert letters[str(again.id).encode()]["dlq_reason"] == b"duplicate_month"
    assert letters[str(earlier.id).encode()]["dlq_reason"] == b"month_out_of_order"
    async with engine.connect() as conn:
        months = (await conn.execute(
            select(attendance.c.month, attendance.c.days_present)
            .where(attendance.c.person_ref == child).order_by(attendance.c.month))).all()
    assert [tuple(m) for m in months] == [("2026-02", 18), ("2026-03", 19)]
