"""Dinsos's side of a case on the real stack: referral, eligibility, follow-ups, graduation.

Public Works and Education are simulated: the tests publish their events themselves.
"""

import random
from datetime import date
from typing import Any
from uuid import UUID

import pytest
from aiokafka import TopicPartition
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts.base import Contract
from contracts.catalogue import (
    DEAD_LETTER,
    EDUCATION_PUPIL,
    INTAKE_DEAD_LETTER,
    PUBLIC_WORKS_TICKET,
    SOCIAL_INTAKE,
    spec_for,
)
from contracts.codec import encode
from contracts.envelope import Envelope, new_envelope
from contracts.events.education import DropoutRisk, PupilReengaged
from contracts.events.intake import (
    FloorMaterial,
    HouseholdIntake,
    HousingSurvey,
    IncomeReport,
    Member,
    RejectionAcknowledgement,
    Relation,
)
from contracts.events.public_works import (
    RejectionReason,
    WorksTicketCompleted,
    WorksTicketOpened,
    WorksTicketRejected,
)
from contracts.events.social import HousingNeed
from contracts.ids import new_event_id
from services.runtime.settings import Settings
from services.social.pseudonym import household_ref, person_ref
from services.social.tables import TABLES as SOCIAL
from services.social.tables import household_needs
from services.timeline.tables import entries
from tests.support import committed_offset, read_all, running, until

pytestmark = pytest.mark.integration

ASSESSED = date(2025, 6, 15)
REGION = "6472"
REGISTERED = "social.household.registered.v1"
RESOLVED = "social.housing.resolved.v1"
INCOME = "social.income.reported.v1"
GRADUATED = "social.household.graduated.v1"
FOLLOW_UP = "social.case.follow_up_opened.v1"
REFERRED = "social.education.referred.v1"


# --- building and publishing records -----------------------------------------------------

def digits(n: int) -> str:
    return "".join(random.choice("0123456789") for _ in range(n))


def member(age: int, relation: Relation = Relation.CHILD) -> Member:
    born = date(ASSESSED.year - age, ASSESSED.month, 1)  # had the birthday this month
    return Member(nik=REGION + digits(12), birth_date=born, relation=relation)


def household(child_ages: tuple[int, ...] = (), income: int = 1_500_000,
              needs: tuple[HousingNeed, ...] = ()) -> HouseholdIntake:
    """A household no other test has: fresh KK and NIK numbers, a house with ``needs``."""
    survey = HousingSurvey(
        has_clean_water=HousingNeed.CLEAN_WATER not in needs,
        has_healthy_latrine=HousingNeed.SANITATION not in needs,
        floor_material=FloorMaterial.CEMENT, walls_fit=True,
        roof_fit=HousingNeed.HOUSE_REHABILITATION not in needs, floor_area_m2=90.0,
    )
    members = [member(41, Relation.HEAD), member(38, Relation.SPOUSE),
               *(member(age) for age in child_ages)]
    return HouseholdIntake(kk_number=REGION + digits(12), region_code=REGION, village="Loa Bakung",
                           members=members, housing=survey, monthly_income=income,
                           assessed_on=ASSESSED)


def pseudonym_key(settings: Settings) -> bytes:
    return settings.pseudonym_key.get_secret_value().encode()


def ref_of(settings: Settings, intake: HouseholdIntake) -> str:
    return household_ref(pseudonym_key(settings), intake.kk_number)


async def publish(producer, data: Contract, *, key: str, subject: str | None = None,
                  envelope: Envelope | None = None) -> tuple[Envelope, Any]:
    """Publish ``data`` on its catalogue topic; returns the envelope and the record metadata."""
    spec = spec_for(type(data))
    subject = subject or key
    envelope = envelope or new_envelope(type=spec.type, source="test-agency-system",
                                        subject=subject, correlationid=subject, causationid=None)
    headers, payload = encode(envelope, data)
    meta = await producer.send_and_wait(spec.topic, value=payload, key=key.encode(),
                                        headers=headers)
    return envelope, meta


async def publish_record(producer, data: Contract, kk_number: str) -> Envelope:
    """A Dinsos case-system record: keyed by the KK number, about a case number (as the
    demo's records are), so no identity number reaches an envelope attribute or a log line."""
    envelope, _ = await publish(producer, data, key=kk_number, subject=f"CASE-SOC-{digits(8)}")
    return envelope


def income(intake: HouseholdIntake, amount: int, month: int) -> IncomeReport:
    return IncomeReport(kk_number=intake.kk_number, monthly_income=amount,
                        reported_on=date(2025, month, 28))


def ticket(cls: type, ref: str, ticket_id: UUID, need: HousingNeed, **fields: Any) -> Contract:
    return cls(ticket_id=ticket_id, household_ref=ref, region_code=REGION, need=need, **fields)


# --- observing outcomes ------------------------------------------------------------------

async def timeline(engine: AsyncEngine, ref: str, type_: str) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(entries).where(entries.c.household_ref == ref, entries.c.type == type_)
            .order_by(entries.c.time, entries.c.event_id))
        return [dict(r._mapping) for r in rows]


async def on_timeline(engine: AsyncEngine, ref: str, type_: str, count: int = 1
                      ) -> list[dict[str, Any]]:
    """Await ``count`` entries of ``type_`` on the household's timeline (published events)."""
    async def enough() -> list[dict[str, Any]]:
        found = await timeline(engine, ref, type_)
        return found if len(found) >= count else []

    return await until(enough, what=f"{count} x {type_} for {ref}")


async def emitted(engine: AsyncEngine, ref: str) -> list[str]:
    """Types of every event social has committed for the household, in outbox order.

    The outbox is written in the transaction of the effect: once an event is here, anything
    else its handler emitted is here too, so absence can be asserted without waiting.
    """
    outbox = SOCIAL.outbox
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(outbox.c.headers).where(outbox.c.key == ref).order_by(outbox.c.id))
        return [dict(map(tuple, h))["ce_type"] for h in rows.scalars()]


async def has_need_status(engine: AsyncEngine, ref: str, need: HousingNeed, status: str
                          ) -> bool:
    async with engine.connect() as conn:
        return status == await conn.scalar(select(household_needs.c.status).where(
            household_needs.c.household_ref == ref, household_needs.c.need == need.value))


async def consumed_past(settings: Settings, group: str, meta: Any) -> bool:
    tp = TopicPartition(meta.topic, meta.partition)
    return await committed_offset(settings, group, tp) > meta.offset


async def dead_letters(settings: Settings, topic: str, envelope: Envelope) -> list[Any]:
    return [r for r in await read_all(settings, [topic])
            if dict(r.headers).get("ce_id") == str(envelope.id).encode()]


# --- the flows ---------------------------------------------------------------------------

async def test_poor_household_with_children_gets_a_referral_and_grant_eligibility(
    stack_settings: Settings, engine: AsyncEngine, producer
) -> None:
    poor = household(child_ages=(3, 7, 12, 18, 19))
    at_line = household(child_ages=(4, 19), income=stack_settings.poverty_line)
    key = pseudonym_key(stack_settings)
    async with running(stack_settings, engine, "social", "timeline"):
        await publish_record(producer, poor, poor.kk_number)
        await publish_record(producer, at_line, at_line.kk_number)
        ref = ref_of(stack_settings, poor)
        [registered] = await on_timeline(engine, ref, REGISTERED)
        [referral] = await on_timeline(engine, ref, "social.education.referred.v1")
        [eligible] = await on_timeline(engine, ref, "social.grant.eligible.v1")
        await on_timeline(engine, ref_of(stack_settings, at_line), REGISTERED)

    ages = zip(poor.members[2:], (3, 7, 12, 18, 19), strict=True)
    assert referral["data"]["children"] == [
        {"person_ref": person_ref(key, m.nik), "age": age} for m, age in ages if 7 <= age <= 18
    ]
    assert referral["causation_id"] == registered["event_id"]
    assert eligible["data"] == {"household_ref": ref, "region_code": REGION,
                                "monthly_income": 1_500_000,
                                "poverty_line": stack_settings.poverty_line}
    assert eligible["causation_id"] == registered["event_id"]
    # Income exactly at the line, and only a toddler and a 19-year-old: neither event.
    assert await emitted(engine, ref_of(stack_settings, at_line)) == [
        REGISTERED, "social.housing.assessed.v1"]


async def test_completed_needs_and_three_reports_at_or_above_the_line_graduate_once(
    stack_settings: Settings, engine: AsyncEngine, producer
) -> None:
    needs = (HousingNeed.CLEAN_WATER, HousingNeed.SANITATION)
    intake = household(needs=needs)
    ref = ref_of(stack_settings, intake)
    line = stack_settings.poverty_line
    tickets = {need: new_event_id() for need in needs}
    async with running(stack_settings, engine, "social", "timeline"):
        await publish_record(producer, intake, intake.kk_number)
        await on_timeline(engine, ref, "social.housing.flagged.v1")
        for need, ticket_id in tickets.items():
            await publish(producer, ticket(WorksTicketOpened, ref, ticket_id, need,
                                           flag_event_id=new_event_id(), due_on=ASSESSED),
                          key=ref)
            await publish(producer, ticket(WorksTicketCompleted, ref, ticket_id, need,
                                           completed_on=date(2025, 7, 1), late=False),
                          key=ref)
        resolutions = await on_timeline(engine, ref, RESOLVED, count=2)

        for month, amount in ((8, line), (9, line + 250_000)):
            await publish_record(producer, income(intake, amount, month), intake.kk_number)
        await on_timeline(engine, ref, INCOME, count=2)
        assert GRADUATED not in await emitted(engine, ref)  # two reports are not enough

        await publish_record(producer, income(intake, line, 10), intake.kk_number)
        [graduated] = await on_timeline(engine, ref, GRADUATED)
        await publish_record(producer, income(intake, line + 1, 11), intake.kk_number)
        reports = await on_timeline(engine, ref, INCOME, count=4)

    assert sorted(r["data"]["open_needs"] for r in resolutions) == [0, 1]
    assert {r["data"]["resolution"] for r in resolutions} == {"completed"}
    assert {r["data"]["ticket_id"] for r in resolutions} == {str(t) for t in tickets.values()}
    assert [r["data"]["consecutive_at_or_above_line"] for r in reports] == [1, 2, 3, 4]
    assert graduated["causation_id"] == reports[2]["event_id"]
    assert graduated["data"]["graduated_on"] == "2025-10-28"
    assert graduated["data"]["bansos_ended"] is True
    assert graduated["data"]["consecutive_reports_at_or_above_line"] == 3
    assert (await emitted(engine, ref)).count(GRADUATED) == 1  # the fourth report: not again


async def test_child_at_dropout_risk_gets_one_follow_up_and_blocks_graduation_until_reengaged(
    stack_settings: Settings, engine: AsyncEngine, producer
) -> None:
    intake = household(child_ages=(13,))
    ref = ref_of(stack_settings, intake)
    child = person_ref(pseudonym_key(stack_settings), intake.members[2].nik)
    line = stack_settings.poverty_line
    risk = DropoutRisk(household_ref=ref, person_ref=child, month="2025-08",
                       attendance_pct=61.5, months_below=2)
    async with running(stack_settings, engine, "social", "timeline"):
        await publish_record(producer, intake, intake.kk_number)
        await on_timeline(engine, ref, REGISTERED)
        risk_envelope, _ = await publish(producer, risk, key=ref)
        _, copy = await publish(producer, risk, key=ref, envelope=risk_envelope)
        await until(lambda: consumed_past(stack_settings, "social.pupils", copy),
                    what="both copies of the risk to be consumed")

        for month in (8, 9, 10):
            await publish_record(producer, income(intake, line, month), intake.kk_number)
        await on_timeline(engine, ref, INCOME, count=3)
        assert GRADUATED not in await emitted(engine, ref)  # the child is still at risk

        reengaged, _ = await publish(
            producer, PupilReengaged(household_ref=ref, person_ref=child, month="2025-11",
                                     attendance_pct=92.0, risk_event_id=risk_envelope.id),
            key=ref)
        [graduated] = await on_timeline(engine, ref, GRADUATED)
        follow_ups = await timeline(engine, ref, FOLLOW_UP)

    assert len(follow_ups) == 1
    assert follow_ups[0]["causation_id"] == risk_envelope.id
    assert follow_ups[0]["data"] == {"household_ref": ref, "person_ref": child,
                                     "risk_event_id": str(risk_envelope.id)}
    assert (await emitted(engine, ref)).count(FOLLOW_UP) == 1
    assert graduated["causation_id"] == reengaged.id
    # The copy was dropped by the inbox, not refused and dead-lettered.
    assert not await dead_letters(stack_settings, DEAD_LETTER.name, risk_envelope)


async def test_rejected_ticket_blocks_graduation_until_dinsos_acknowledges_it(
    stack_settings: Settings, engine: AsyncEngine, producer
) -> None:
    need = HousingNeed.HOUSE_REHABILITATION
    intake = household(needs=(need,))
    ref = ref_of(stack_settings, intake)
    ticket_id = new_event_id()
    line = stack_settings.poverty_line
    ack = RejectionAcknowledgement(kk_number=intake.kk_number, ticket_id=ticket_id,
                                   acknowledged_on=date(2025, 11, 3))
    async with running(stack_settings, engine, "social", "timeline"):
        await publish_record(producer, intake, intake.kk_number)
        await on_timeline(engine, ref, "social.housing.flagged.v1")
        await publish(producer, ticket(WorksTicketOpened, ref, ticket_id, need,
                                       flag_event_id=new_event_id(), due_on=ASSESSED),
                      key=ref)
        await until(lambda: has_need_status(engine, ref, need, "open"), what="the ticket tracked")

        early = await publish_record(producer, ack, intake.kk_number)  # not rejected yet
        [refused] = await until(lambda: dead_letters(stack_settings, INTAKE_DEAD_LETTER.name,
                                                     early), what="the early ack refused")

        await publish(producer, ticket(WorksTicketRejected, ref, ticket_id, need,
                                       rejected_on=date(2025, 7, 2),
                                       reason=RejectionReason.UNCLEAR_LAND_STATUS),
                      key=ref)
        await until(lambda: has_need_status(engine, ref, need, "rejected"),
                    what="the rejection recorded")
        for month in (8, 9, 10):
            await publish_record(producer, income(intake, line, month), intake.kk_number)
        await on_timeline(engine, ref, INCOME, count=3)
        assert GRADUATED not in await emitted(engine, ref)  # rejected, not acknowledged

        await publish_record(producer, ack, intake.kk_number)
        [resolved] = await on_timeline(engine, ref, RESOLVED)
        [graduated] = await on_timeline(engine, ref, GRADUATED)

    assert dict(refused.headers)["dlq_reason"] == b"ticket_not_rejected"
    assert resolved["data"]["resolution"] == "rejection_acknowledged"
    assert resolved["data"]["ticket_id"] == str(ticket_id)
    assert resolved["data"]["open_needs"] == 0
    assert graduated["causation_id"] == resolved["event_id"]
    assert graduated["data"]["graduated_on"] == "2025-11-03"


async def test_income_for_an_unknown_kk_is_dead_lettered_as_unknown_household(
    stack_settings: Settings, engine: AsyncEngine, producer
) -> None:
    stranger = household()  # never registered
    report = income(stranger, 5_000_000, 8)
    async with running(stack_settings, engine, "social"):
        envelope = await publish_record(producer, report, stranger.kk_number)
        [letter] = await until(lambda: dead_letters(stack_settings, INTAKE_DEAD_LETTER.name,
                                                    envelope), what="the dead letter")
    headers = dict(letter.headers)
    assert headers["dlq_reason"] == b"unknown_household"
    assert headers["dlq_topic"] == SOCIAL_INTAKE.name.encode()
    assert headers["dlq_consumer_group"] == b"social.intake"
    assert stranger.kk_number.encode() not in headers["dlq_detail"]
    assert await emitted(engine, ref_of(stack_settings, stranger)) == []


async def test_ticket_and_pupil_events_for_an_unknown_household_are_dead_lettered(
    stack_settings: Settings, engine: AsyncEngine, producer
) -> None:
    ref = ref_of(stack_settings, household())  # never registered
    opened = ticket(WorksTicketOpened, ref, new_event_id(), HousingNeed.SANITATION,
                    flag_event_id=new_event_id(), due_on=ASSESSED)
    risk = DropoutRisk(household_ref=ref, person_ref="p-" + "0" * 32, month="2025-08",
                       attendance_pct=40.0, months_below=2)
    async with running(stack_settings, engine, "social"):
        sent = [(await publish(producer, data, key=ref))[0] for data in (opened, risk)]
        for envelope, topic in zip(sent, (PUBLIC_WORKS_TICKET, EDUCATION_PUPIL), strict=True):
            [letter] = await until(lambda e=envelope: dead_letters(
                stack_settings, DEAD_LETTER.name, e), what=f"the dead letter from {topic.name}")
            assert dict(letter.headers)["dlq_reason"] == b"unknown_household"
            assert dict(letter.headers)["dlq_topic"] == topic.name.encode()
    assert await emitted(engine, ref) == []


async def test_a_child_at_risk_who_moves_to_another_household_takes_the_risk_along(
    stack_settings: Settings, engine: AsyncEngine, producer
) -> None:
    first = household(child_ages=(13,))
    moved = first.members[2]
    # The family card split: the child is on a new card, assessed a month later.
    second = household().model_copy(update={
        "members": [*household().members[:1], moved],
        "assessed_on": date(ASSESSED.year, ASSESSED.month + 1, 1)})
    h1, h2 = ref_of(stack_settings, first), ref_of(stack_settings, second)
    child = person_ref(pseudonym_key(stack_settings), moved.nik)
    line = stack_settings.poverty_line
    risk = DropoutRisk(household_ref=h1, person_ref=child, month="2025-08",
                       attendance_pct=61.5, months_below=2)
    async with running(stack_settings, engine, "social", "timeline"):
        await publish_record(producer, first, first.kk_number)
        await on_timeline(engine, h1, REGISTERED)
        risk_envelope, _ = await publish(producer, risk, key=h1)
        await on_timeline(engine, h1, FOLLOW_UP)
        await publish_record(producer, second, second.kk_number)
        [referral] = await on_timeline(engine, h2, REFERRED)
        for month in (8, 9, 10):
            for intake in (first, second):
                await publish_record(producer, income(intake, line, month), intake.kk_number)
        await on_timeline(engine, h2, INCOME, count=3)
        [graduated_first] = await on_timeline(engine, h1, GRADUATED)  # the child left
        assert GRADUATED not in await emitted(engine, h2)  # the child is at risk there now

        # Education moved the pupil too: its re-engagement names the new household.
        await publish(producer, PupilReengaged(
            household_ref=h2, person_ref=child, month="2025-11", attendance_pct=92.0,
            risk_event_id=risk_envelope.id), key=h2)
        await on_timeline(engine, h2, GRADUATED)

    assert [c["person_ref"] for c in referral["data"]["children"]] == [child]
    assert graduated_first["data"]["household_ref"] == h1
