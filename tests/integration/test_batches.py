"""A batch of records is one transaction, yet each record keeps its own outcome."""

import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts.catalogue import (
    DEAD_LETTER,
    PUBLIC_WORKS_INTAKE,
    PUBLIC_WORKS_TICKET,
    SOCIAL_HOUSING,
)
from contracts.codec import Event, encode
from contracts.envelope import new_envelope
from contracts.events.public_works import FieldStatus, TicketFieldUpdate
from contracts.events.social import HousingFlagged, HousingNeed
from services.public_works.tables import TABLES, tickets
from services.runtime.consumer import Outcome, RecordProcessor, Subscription
from services.runtime.deadletter import Record
from services.runtime.service import ServiceRuntime
from services.runtime.settings import Settings
from services.runtime.tables import ServiceTables
from services.runtime.unit_of_work import UnitOfWork
from tests.support import create_tables, definitions, read_all, running, until

pytestmark = pytest.mark.integration


def fresh_ref() -> str:
    return "h-" + uuid.uuid4().hex


def flag_record(ref: str, offset: int, needs: list[HousingNeed]) -> Record:
    envelope = new_envelope(type="social.housing.flagged.v1", source="sinergi/social",
                            subject=ref, correlationid=ref, causationid=None)
    headers, payload = encode(envelope, HousingFlagged(
        household_ref=ref, region_code="6472", village="Sungai Pinang", needs=needs))
    return Record(SOCIAL_HOUSING.name, 0, offset, ref.encode(), payload, tuple(headers))


def update_record(ticket_id: uuid.UUID, offset: int,
                  status: FieldStatus = FieldStatus.SCHEDULED) -> Record:
    envelope = new_envelope(type="intake.ticket_update.v1", source="pupr-field-system",
                            subject=str(ticket_id), correlationid=str(ticket_id),
                            causationid=None)
    headers, payload = encode(envelope, TicketFieldUpdate(
        ticket_id=ticket_id, status=status, on=date(2026, 1, 5)))
    return Record(PUBLIC_WORKS_INTAKE.name, 0, offset, str(ticket_id).encode(), payload,
                  tuple(headers))


async def ticket_ids(engine: AsyncEngine, ref: str) -> list[uuid.UUID]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(tickets.c.ticket_id).where(
            tickets.c.household_ref == ref).order_by(tickets.c.need))
        return list(rows.scalars())


async def statuses_of(engine: AsyncEngine, ref: str) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(tickets.c.status).where(
            tickets.c.household_ref == ref).order_by(tickets.c.need))
        return list(rows.scalars())


async def needs_of(engine: AsyncEngine, ref: str) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(tickets.c.need).where(tickets.c.household_ref == ref))
        return sorted(rows.scalars())


async def ticket_events(engine: AsyncEngine, ref: str) -> int:
    outbox = TABLES.outbox
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(outbox).where(
            outbox.c.key == ref, outbox.c.topic == PUBLIC_WORKS_TICKET.name)) or 0)


async def public_works(settings: Settings, engine: AsyncEngine) -> ServiceRuntime:
    runtime = ServiceRuntime(definitions(settings)["public_works"], settings, engine)
    await runtime.producer.start()
    return runtime


def subscription(runtime: ServiceRuntime, name: str) -> Any:
    return next(s for s in runtime.definition.subscriptions if s.name == name)


async def test_a_copy_inside_the_same_batch_is_dropped_as_a_duplicate(
    stack_settings: Settings, engine: AsyncEngine
) -> None:
    runtime = await public_works(stack_settings, engine)
    first, second = fresh_ref(), fresh_ref()
    flag = flag_record(first, 1, [HousingNeed.SANITATION])
    try:
        outcomes = await runtime.processor.process_batch(
            subscription(runtime, "public_works.housing_flags"),
            [flag, flag_record(second, 2, [HousingNeed.CLEAN_WATER]), flag])
    finally:
        await runtime.producer.stop()
    assert outcomes == [Outcome.PROCESSED, Outcome.PROCESSED, Outcome.DUPLICATE]
    assert await needs_of(engine, first) == ["sanitation"]
    assert await needs_of(engine, second) == ["clean_water_connection"]
    assert await ticket_events(engine, first) == 1


async def test_a_batch_holding_a_record_handled_before_drops_it_and_commits_the_rest(
    stack_settings: Settings, engine: AsyncEngine
) -> None:
    # The batch claims its records at commit; finding one claimed already, it commits
    # nothing and is handled again claiming first.
    runtime = await public_works(stack_settings, engine)
    sub = subscription(runtime, "public_works.housing_flags")
    seen, new = fresh_ref(), fresh_ref()
    handled = flag_record(seen, 1, [HousingNeed.SANITATION])
    try:
        first = await runtime.processor.process_batch(
            sub, [handled, flag_record(fresh_ref(), 2, [HousingNeed.SANITATION])])
        again = await runtime.processor.process_batch(
            sub, [handled, flag_record(new, 3, [HousingNeed.CLEAN_WATER])])
    finally:
        await runtime.producer.stop()
    assert first == [Outcome.PROCESSED, Outcome.PROCESSED]
    assert again == [Outcome.DUPLICATE, Outcome.PROCESSED]
    assert await needs_of(engine, seen) == ["sanitation"]
    assert await ticket_events(engine, seen) == 1
    assert await needs_of(engine, new) == ["clean_water_connection"]


async def test_a_redelivered_record_emits_nothing_even_when_no_constraint_would_stop_it(
    engine: AsyncEngine
) -> None:
    # Public Works' tickets table would refuse a second ticket anyway; this handler only
    # emits, so the inbox claim made at commit is all that stands between a redelivered
    # record and a second event.
    tables = await create_tables(engine, ServiceTables("claim_at_commit_test"))

    async def echo(event: Event, uow: UnitOfWork) -> None:
        await uow.emit(event.data, subject=event.envelope.subject,
                       correlationid=event.envelope.correlationid,
                       causationid=event.envelope.id)

    processor = RecordProcessor(lambda: UnitOfWork(engine, tables, "sinergi/claim-test"),
                                producer=None)  # type: ignore[arg-type]  # no dead letters here
    sub = Subscription("claim_test.flags", (SOCIAL_HOUSING.name,), echo)
    seen, new = fresh_ref(), fresh_ref()
    handled = flag_record(seen, 1, [HousingNeed.SANITATION])
    first = await processor.process_batch(
        sub, [handled, flag_record(fresh_ref(), 2, [HousingNeed.SANITATION])])
    again = await processor.process_batch(
        sub, [handled, flag_record(new, 3, [HousingNeed.CLEAN_WATER])])
    assert (first, again) == ([Outcome.PROCESSED] * 2, [Outcome.DUPLICATE, Outcome.PROCESSED])
    async with engine.connect() as conn:
        keys = list((await conn.execute(select(tables.outbox.c.key).where(
            tables.outbox.c.key.in_([seen, new])))).scalars())
    assert sorted(keys) == sorted([seen, new])


async def test_a_refused_record_is_dead_lettered_alone_and_the_rest_of_its_batch_commits(
    stack_settings: Settings, engine: AsyncEngine
) -> None:
    runtime = await public_works(stack_settings, engine)
    ref = fresh_ref()
    unknown_ticket = uuid.uuid4()
    try:
        await runtime.processor.process_batch(
            subscription(runtime, "public_works.housing_flags"),
            [flag_record(ref, 1, [HousingNeed.CLEAN_WATER, HousingNeed.SANITATION])])
        water, sanitation = await ticket_ids(engine, ref)
        # The refusal rolls the batch's transaction back; the records are then handled
        # one by one, so the updates before and after it still take effect, once.
        outcomes = await runtime.processor.process_batch(
            subscription(runtime, "public_works.field_updates"),
            [update_record(water, 1), update_record(unknown_ticket, 2),
             update_record(sanitation, 3)])
    finally:
        await runtime.producer.stop()
    assert outcomes == [Outcome.PROCESSED, Outcome.DEAD_LETTERED, Outcome.PROCESSED]
    assert await statuses_of(engine, ref) == ["scheduled", "scheduled"]
    assert await ticket_events(engine, ref) == 4  # two opened, two scheduled
    letters = [r for r in await read_all(stack_settings, [DEAD_LETTER.name])
               if str(unknown_ticket).encode() in dict(r.headers).get("dlq_detail", b"")]
    assert len(letters) == 1
    assert dict(letters[0].headers)["dlq_reason"] == b"unknown_ticket"


async def test_a_commit_wakes_the_relay_without_waiting_for_its_poll(
    stack_settings: Settings, engine: AsyncEngine
) -> None:
    settings = stack_settings.model_copy(update={"relay_poll_seconds": 3600.0})
    ref = fresh_ref()
    started = datetime.now(UTC)
    async with running(settings, engine, "public_works") as runtimes:
        runtime = runtimes["public_works"]
        await runtime.relay.relay_batch()  # whatever earlier tests left: the poll is now an hour
        await runtime.processor.process_batch(
            subscription(runtime, "public_works.housing_flags"),
            [flag_record(ref, 1, [HousingNeed.SANITATION])])

        async def published() -> bool:
            outbox = TABLES.outbox
            async with engine.connect() as conn:
                return bool(await conn.scalar(select(func.count()).select_from(outbox).where(
                    outbox.c.key == ref, outbox.c.sent_at >= started)))

        await until(published, within=30, what="the ticket event to be relayed")


async def test_events_emitted_in_one_transaction_are_numbered_in_emit_order(
    stack_settings: Settings, engine: AsyncEngine
) -> None:
    runtime = ServiceRuntime(definitions(stack_settings)["public_works"], stack_settings, engine)
    refs = [fresh_ref() for _ in range(40)]
    async with runtime.uow() as uow:
        emitted = [await uow.emit(HousingFlagged(household_ref=ref, region_code="6474",
                                                 village="Bontang Baru",
                                                 needs=[HousingNeed.SANITATION]),
                                  subject=ref, correlationid=ref, causationid=None)
                   for ref in reversed(refs)]  # keys in descending order: not sorted by key
        await uow.commit()
    outbox = TABLES.outbox
    async with engine.begin() as conn:
        stored = (await conn.execute(select(outbox.c.event_id).where(
            outbox.c.key.in_(refs)).order_by(outbox.c.id))).scalars().all()
        # Never to be published: these flags were only written to see their numbering.
        deleted = (await conn.execute(outbox.delete().where(outbox.c.key.in_(refs))
                                      .returning(outbox.c.id))).scalars().all()
        await conn.execute(TABLES.outbox_unsent.delete().where(
            TABLES.outbox_unsent.c.id.in_(deleted)))
    assert stored == emitted


class OpenTransactions:
    """Units of work of one runtime that count how many are open at once."""

    def __init__(self, runtime: ServiceRuntime) -> None:
        self.open = self.most = 0
        outer = self

        class Counted(UnitOfWork):
            async def __aenter__(self) -> "Counted":
                await super().__aenter__()
                outer.open += 1
                outer.most = max(outer.most, outer.open)
                return self

            async def __aexit__(self, *exc: Any) -> None:
                outer.open -= 1
                await super().__aexit__(*exc)

        definition = runtime.definition
        self.factory = lambda: Counted(engine=runtime.engine, tables=definition.tables,
                                       source=f"sinergi/{definition.name}")


async def test_a_batch_split_into_lanes_keeps_each_tickets_updates_in_order(
    stack_settings: Settings, engine: AsyncEngine
) -> None:
    runtime = await public_works(stack_settings, engine)
    counted = OpenTransactions(runtime)
    processor = RecordProcessor(counted.factory, runtime.producer, lanes=2, lane_min_records=4)
    refs = [fresh_ref() for _ in range(13)]
    steps = (FieldStatus.SCHEDULED, FieldStatus.IN_PROGRESS, FieldStatus.COMPLETED)
    try:
        opened = await processor.process_batch(
            subscription(runtime, "public_works.housing_flags"),
            [flag_record(ref, n, [HousingNeed.SANITATION]) for n, ref in enumerate(refs)])
        tickets_ = [(await ticket_ids(engine, ref))[0] for ref in refs]
        # Every ticket's three steps in one batch, interleaved with the other tickets'
        # (keyed by ticket id): a step handled before the one it follows would be refused.
        updates = [update_record(t, 3 * n + i, step)
                   for i, step in enumerate(steps) for n, t in enumerate(tickets_)]
        moved = await processor.process_batch(
            subscription(runtime, "public_works.field_updates"), updates)
    finally:
        await runtime.producer.stop()
    assert opened == [Outcome.PROCESSED] * len(refs)
    assert moved == [Outcome.PROCESSED] * len(updates)
    assert counted.most == 2  # the batches did run as two transactions at once
    for ref in refs:
        assert await statuses_of(engine, ref) == ["completed"]
        assert await ticket_events(engine, ref) == 4  # opened, scheduled, started, completed
