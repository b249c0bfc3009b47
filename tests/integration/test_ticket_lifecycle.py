"""Field updates move works tickets along their lifecycle, each step an event on the ticket
topic caused by its update; refused updates are dead-lettered and the partition goes on."""

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from aiokafka import TopicPartition
from sqlalchemy import Row, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts.catalogue import (
    DEAD_LETTER,
    PUBLIC_WORKS_INTAKE,
    PUBLIC_WORKS_TICKET,
    SOCIAL_HOUSING,
)
from contracts.codec import encode
from contracts.envelope import Envelope, new_envelope
from contracts.events.public_works import FieldStatus, RejectionReason, TicketFieldUpdate
from contracts.events.social import HousingFlagged, HousingNeed
from services.public_works.tables import TABLES, tickets
from services.runtime.settings import Settings
from tests.support import committed_offset, read_all, running, until

pytestmark = pytest.mark.integration

FIELD_UPDATES = "public_works.field_updates"
F = FieldStatus


@dataclass(frozen=True)
class Sent:
    envelope: Envelope
    headers: list[tuple[str, bytes]]
    payload: bytes
    key: bytes
    partition: TopicPartition
    offset: int


async def open_tickets(producer: Any, engine: AsyncEngine,
                       needs: list[HousingNeed]) -> tuple[str, dict[HousingNeed, Row]]:
    """Flag a fresh household and wait for Public Works to open its tickets."""
    ref = "h-" + uuid4().hex
    envelope = new_envelope(type="social.housing.flagged.v1", source="sinergi/social",
                            subject=ref, correlationid=ref, causationid=None)
    headers, payload = encode(envelope, HousingFlagged(
        household_ref=ref, region_code="6403", village="Loa Kulu", needs=needs))
    await producer.send_and_wait(SOCIAL_HOUSING.name, value=payload, key=ref.encode(),
                                 headers=headers)

    async def opened() -> list[Row]:
        rows = await tickets_of(engine, ref)
        return rows if len(rows) == len(needs) else []

    rows = await until(opened, what=f"tickets for {ref}")
    return ref, {HousingNeed(r.need): r for r in rows}


async def tickets_of(engine: AsyncEngine, ref: str) -> list[Row]:
    async with engine.connect() as conn:
        return list(await conn.execute(select(tickets).where(tickets.c.household_ref == ref)))


async def ticket(engine: AsyncEngine, ticket_id: UUID) -> Row:
    async with engine.connect() as conn:
        return (await conn.execute(select(tickets).where(tickets.c.ticket_id == ticket_id))).one()


async def send_update(producer: Any, ticket_id: UUID, status: FieldStatus, on: date,
                      reason: RejectionReason | None = None, key: str | None = None) -> Sent:
    """What the field system publishes: keyed by ticket id unless ``key`` says otherwise."""
    envelope = new_envelope(type="intake.ticket_update.v1", source="pupr-field-system",
                            subject=str(ticket_id), correlationid=str(ticket_id),
                            causationid=None)
    headers, payload = encode(envelope, TicketFieldUpdate(
        ticket_id=ticket_id, status=status, on=on, reason=reason))
    return await publish(producer, envelope, headers, payload, (key or str(ticket_id)).encode())


async def publish(producer: Any, envelope: Envelope, headers: list[tuple[str, bytes]],
                  payload: bytes, key: bytes) -> Sent:
    meta = await producer.send_and_wait(PUBLIC_WORKS_INTAKE.name, value=payload, key=key,
                                        headers=headers)
    return Sent(envelope, headers, payload, key, TopicPartition(meta.topic, meta.partition),
                meta.offset)


async def ticket_events(settings: Settings, ticket_id: UUID) -> list[Any]:
    """The ticket's records on the ticket topic, in the order they were published."""
    return [r for r in await read_all(settings, [PUBLIC_WORKS_TICKET.name])
            if json.loads(r.value)["ticket_id"] == str(ticket_id)]


def type_of(record: Any) -> str:
    return dict(record.headers)["ce_type"].decode()


def data_of(record: Any) -> dict[str, Any]:
    return json.loads(record.value)


async def dead_letter_of(settings: Settings, sent: Sent) -> list[Any]:
    return [r for r in await read_all(settings, [DEAD_LETTER.name])
            if dict(r.headers).get("ce_id") == str(sent.envelope.id).encode()]


async def consumed_past(settings: Settings, sent: Sent) -> bool:
    return await committed_offset(settings, FIELD_UPDATES, sent.partition) > sent.offset


async def outbox_drained(engine: AsyncEngine) -> bool:
    outbox = TABLES.outbox
    async with engine.connect() as conn:
        return not await conn.scalar(
            select(func.count()).select_from(outbox).where(outbox.c.sent_at.is_(None)))


async def test_ticket_goes_from_opened_to_completed_each_step_an_event_caused_by_its_update(
    stack_settings: Settings, engine: AsyncEngine, producer: Any
) -> None:
    async with running(stack_settings, engine, "public_works"):
        ref, opened = await open_tickets(producer, engine, [HousingNeed.SANITATION])
        row = opened[HousingNeed.SANITATION]
        due = row.due_on
        steps = [(F.SCHEDULED, due - timedelta(days=40)), (F.IN_PROGRESS, due - timedelta(days=30)),
                 (F.COMPLETED, due + timedelta(days=1))]
        updates = [await send_update(producer, row.ticket_id, s, on) for s, on in steps]

        async def every_step() -> list[Any]:
            events = await ticket_events(stack_settings, row.ticket_id)
            return events if len(events) >= 4 else []

        events = await until(every_step, what="scheduled, started and completed events")

    assert [type_of(e) for e in events] == [
        "public_works.ticket.opened.v1", "public_works.ticket.scheduled.v1",
        "public_works.ticket.started.v1", "public_works.ticket.completed.v1",
    ]
    for event, update in zip(events[1:], updates, strict=True):
        headers = dict(event.headers)
        assert headers["ce_causationid"] == str(update.envelope.id).encode()
        assert headers["ce_subject"] == headers["ce_correlationid"] == ref.encode()
        assert event.key == ref.encode()
    scheduled, started, completed = (data_of(e) for e in events[1:])
    assert scheduled["scheduled_on"] == str(steps[0][1])
    assert started["started_on"] == str(steps[1][1])
    assert completed["completed_on"] == str(due + timedelta(days=1))
    assert completed["late"] is True  # one day past due
    final = await ticket(engine, row.ticket_id)
    assert final.status == "completed"
    assert (final.scheduled_on, final.started_on, final.completed_on) == tuple(
        on for _, on in steps)


async def test_unknown_ticket_and_invalid_transition_are_dead_lettered_and_the_partition_goes_on(
    stack_settings: Settings, engine: AsyncEngine, producer: Any
) -> None:
    today = datetime.now(UTC).date()
    async with running(stack_settings, engine, "public_works"):
        _, opened = await open_tickets(
            producer, engine, [HousingNeed.CLEAN_WATER, HousingNeed.SANITATION])
        done, waiting = opened[HousingNeed.CLEAN_WATER], opened[HousingNeed.SANITATION]
        for status in (F.SCHEDULED, F.IN_PROGRESS, F.COMPLETED):
            last = await send_update(producer, done.ticket_id, status, today)
        await until(lambda: consumed_past(stack_settings, last), what="the ticket to complete")

        # One key for all three, so they share a partition in this order.
        key = str(done.ticket_id)
        unknown_id = uuid4()
        unknown = await send_update(producer, unknown_id, F.SCHEDULED, today, key=key)
        invalid = await send_update(producer, done.ticket_id, F.SCHEDULED, today)
        valid = await send_update(producer, waiting.ticket_id, F.SCHEDULED, today, key=key)
        assert unknown.partition == invalid.partition == valid.partition

        async def valid_one_announced() -> list[Any]:
            events = await ticket_events(stack_settings, waiting.ticket_id)
            return [e for e in events if type_of(e) == "public_works.ticket.scheduled.v1"]

        await until(valid_one_announced, what="the valid update behind the refused ones")

    [unknown_letter] = await dead_letter_of(stack_settings, unknown)
    [invalid_letter] = await dead_letter_of(stack_settings, invalid)
    for letter, sent in ((unknown_letter, unknown), (invalid_letter, invalid)):
        headers = dict(letter.headers)
        assert headers["dlq_topic"] == PUBLIC_WORKS_INTAKE.name.encode()
        assert headers["dlq_consumer_group"] == FIELD_UPDATES.encode()
        assert headers["dlq_offset"] == str(sent.offset).encode()
        assert letter.value == sent.payload
    assert dict(unknown_letter.headers)["dlq_reason"] == b"unknown_ticket"
    assert str(unknown_id).encode() in dict(unknown_letter.headers)["dlq_detail"]
    assert dict(invalid_letter.headers)["dlq_reason"] == b"invalid_transition"
    assert dict(invalid_letter.headers)["dlq_detail"] == b"completed -> scheduled"
    # The refused update changed nothing: still completed, no second scheduled event.
    assert (await ticket(engine, done.ticket_id)).status == "completed"
    assert [type_of(e) for e in await ticket_events(stack_settings, done.ticket_id)] == [
        "public_works.ticket.opened.v1", "public_works.ticket.scheduled.v1",
        "public_works.ticket.started.v1", "public_works.ticket.completed.v1",
    ]
    assert (await ticket(engine, waiting.ticket_id)).status == "scheduled"


async def test_redelivered_completion_emits_one_completed_event(
    stack_settings: Settings, engine: AsyncEngine, producer: Any
) -> None:
    async with running(stack_settings, engine, "public_works"):
        _, opened = await open_tickets(producer, engine, [HousingNeed.HOUSE_REHABILITATION])
        row = opened[HousingNeed.HOUSE_REHABILITATION]
        for status in (F.SCHEDULED, F.IN_PROGRESS):
            await send_update(producer, row.ticket_id, status, row.due_on)
        completion = await send_update(producer, row.ticket_id, F.COMPLETED, row.due_on)
        # The same record again (what a field-system retry after a lost ack produces)...
        await publish(producer, completion.envelope, completion.headers, completion.payload,
                      completion.key)
        # ...and a fresh resend of the same status with a later date: a harmless no-op.
        resent = await send_update(producer, row.ticket_id, F.COMPLETED,
                                   row.due_on + timedelta(days=5))
        await until(lambda: consumed_past(stack_settings, resent), what="every copy consumed")
        await until(lambda: outbox_drained(engine), what="the outbox to drain")

    events = await ticket_events(stack_settings, row.ticket_id)
    completed = [e for e in events if type_of(e) == "public_works.ticket.completed.v1"]
    assert len(completed) == 1
    assert dict(completed[0].headers)["ce_causationid"] == str(completion.envelope.id).encode()
    assert data_of(completed[0])["completed_on"] == str(row.due_on)
    assert data_of(completed[0])["late"] is False  # completed on the due date itself
    assert (await ticket(engine, row.ticket_id)).completed_on == row.due_on
    assert not await dead_letter_of(stack_settings, completion)
    assert not await dead_letter_of(stack_settings, resent)


async def test_rejected_ticket_carries_its_reason_to_the_ticket_topic(
    stack_settings: Settings, engine: AsyncEngine, producer: Any
) -> None:
    today = datetime.now(UTC).date()
    async with running(stack_settings, engine, "public_works"):
        ref, opened = await open_tickets(producer, engine, [HousingNeed.CLEAN_WATER])
        row = opened[HousingNeed.CLEAN_WATER]
        rejection = await send_update(producer, row.ticket_id, F.REJECTED, today,
                                      reason=RejectionReason.UNCLEAR_LAND_STATUS)

        async def rejected() -> list[Any]:
            return [e for e in await ticket_events(stack_settings, row.ticket_id)
                    if type_of(e) == "public_works.ticket.rejected.v1"]

        [event] = await until(rejected, what="the rejected event")

    assert dict(event.headers)["ce_causationid"] == str(rejection.envelope.id).encode()
    assert event.key == ref.encode()
    assert data_of(event)["reason"] == "unclear_land_status"
    assert data_of(event)["rejected_on"] == str(today)
    final = await ticket(engine, row.ticket_id)
    assert (final.status, final.rejection_reason, final.rejected_on) == (
        "rejected", "unclear_land_status", today)
