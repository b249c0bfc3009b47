"""Dead letters through the operator CLI: list, show, and a replay after fixing the cause.

The case: the Public Works field system reports a ticket "in progress" before its
"scheduled" update reached Sinergi, so the lifecycle refuses it (invalid_transition). Once
the field system sends the missing "scheduled", the operator replays the dead letter.
"""

import json
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts.catalogue import (
    DEAD_LETTER,
    INTAKE_DEAD_LETTER,
    PUBLIC_WORKS_INTAKE,
    PUBLIC_WORKS_TICKET,
    SOCIAL_HOUSING,
    SOCIAL_INTAKE,
)
from contracts.codec import encode
from contracts.envelope import Envelope, new_envelope
from contracts.events.public_works import FieldStatus, TicketFieldUpdate
from services.demo.households import intake_envelope, publish_intake
from services.public_works.tables import tickets
from services.runtime.settings import Settings
from services.social.pseudonym import household_ref
from tests.integration.test_operator_cli import sinergi, table_rows
from tests.support import consumed_to_end, fresh_intakes, read_all, running, until

pytestmark = pytest.mark.integration

FIELD_UPDATES = "public_works.field_updates"


async def publish_update(producer: Any, ticket_id: UUID, status: FieldStatus) -> Envelope:
    envelope = new_envelope(type="intake.ticket_update.v1", source="pupr-field-system",
                            subject=str(ticket_id), correlationid=str(ticket_id),
                            causationid=None)
    headers, payload = encode(envelope, TicketFieldUpdate(
        ticket_id=ticket_id, status=status, on=datetime.now(UTC).date()))
    await producer.send_and_wait(PUBLIC_WORKS_INTAKE.name, value=payload,
                                 key=str(ticket_id).encode(), headers=headers)
    return envelope


async def letters_of(settings: Settings, topic: str, event_id: UUID) -> list[Any]:
    return [r for r in await read_all(settings, [topic])
            if dict(r.headers).get("ce_id") == str(event_id).encode()]


async def ticket_events(settings: Settings, ticket_id: UUID, event_type: str) -> list[Any]:
    return [r for r in await read_all(settings, [PUBLIC_WORKS_TICKET.name])
            if dict(r.headers)["ce_type"] == event_type.encode()
            and json.loads(r.value)["ticket_id"] == str(ticket_id)]


async def status_of(engine: AsyncEngine, ticket_id: UUID) -> str | None:
    async with engine.connect() as conn:
        return await conn.scalar(select(tickets.c.status).where(tickets.c.ticket_id == ticket_id))


async def test_a_dead_letter_replayed_after_its_cause_is_fixed_has_its_effect_once(
    stack_settings: Settings, engine: AsyncEngine, producer
) -> None:
    [intake] = fresh_intakes(1)
    ref = household_ref(stack_settings.pseudonym_key.get_secret_value().encode(),
                        intake.kk_number)
    async with running(stack_settings, engine, "social", "public_works"):
        await publish_intake(producer, intake, f"CASE-{uuid4().hex[:8]}")

        async def opened() -> UUID | None:
            async with engine.connect() as conn:
                return await conn.scalar(select(tickets.c.ticket_id)
                                         .where(tickets.c.household_ref == ref).limit(1))

        ticket_id = await until(opened, what="the works ticket")
        early = await publish_update(producer, ticket_id, FieldStatus.IN_PROGRESS)
        [letter] = await until(lambda: letters_of(stack_settings, DEAD_LETTER.name, early.id),
                               what="the refused update in the dead-letter topic")
        where = ["--partition", str(letter.partition)]
        offset = str(letter.offset)

        origin = dict(letter.headers)
        came_from = (f"{PUBLIC_WORKS_INTAKE.name}/{origin['dlq_partition'].decode()}/"
                     f"{origin['dlq_offset'].decode()}")
        listed = await sinergi(stack_settings, "dlq", "list")
        [row] = [r for r in table_rows(listed.out) if r[-1] == str(early.id)]
        assert row[:5] == [str(letter.partition), offset, "invalid_transition", came_from,
                           FIELD_UPDATES]
        assert row[6:] == ["1", "intake.ticket_update.v1", str(early.id)]

        shown = await sinergi(stack_settings, "dlq", "show", offset, *where)
        assert shown.code == 0, shown.err
        for name in ("dlq_reason: invalid_transition", f"dlq_topic: {PUBLIC_WORKS_INTAKE.name}",
                     f"dlq_consumer_group: {FIELD_UPDATES}", "dlq_first_failure: ",
                     "dlq_attempts: 1", f"ce_id: {early.id}", '"status": "in_progress"',
                     f'"ticket_id": "{ticket_id}"'):
            assert name in shown.out
        assert await status_of(engine, ticket_id) == "opened"

        # The cause is fixed: the field system sends the "scheduled" it had missed.
        await publish_update(producer, ticket_id, FieldStatus.SCHEDULED)
        await until(lambda: _is(engine, ticket_id, "scheduled"), what="the ticket scheduled")

        replayed = await sinergi(stack_settings, "dlq", "replay", offset, *where,
                                 "--by", "operator-ani")
        assert replayed.code == 0, replayed.err
        assert f"replayed {DEAD_LETTER.name}/{letter.partition}/{offset}" in replayed.out
        await until(lambda: _is(engine, ticket_id, "in_progress"),
                    what="the replayed update taking effect")
        await until(lambda: ticket_events(stack_settings, ticket_id,
                                          "public_works.ticket.started.v1"),
                    what="the started event")

        again = await sinergi(stack_settings, "dlq", "replay", offset, *where)
        assert again.code == 1
        [refusal] = again.err.strip().splitlines()
        assert refusal.startswith(f"error: {DEAD_LETTER.name}/{letter.partition}/{offset} was "
                                  "already replayed by operator-ani at ")
        assert "add --force" in refusal

        # Completed now: were the forced copy handled again, the lifecycle would refuse it.
        await publish_update(producer, ticket_id, FieldStatus.COMPLETED)
        await until(lambda: _is(engine, ticket_id, "completed"), what="the ticket completed")
        forced = await sinergi(stack_settings, "dlq", "replay", offset, *where, "--force",
                               "--by", "operator-budi")
        assert forced.code == 0, forced.err
        copies = await until(lambda: _copies(stack_settings, early.id, 3),
                             what="the forced copy on the intake topic")
        await until(lambda: consumed_to_end(stack_settings, FIELD_UPDATES,
                                            [PUBLIC_WORKS_INTAKE.name]),
                    what="public works consuming the forced copy")

    replay_of = f"{DEAD_LETTER.name}/{letter.partition}/{offset}".encode()
    assert [dict(c.headers).get("sinergi_replay_of") for c in copies] == [
        None, replay_of, replay_of]
    assert {c.value for c in copies} == {copies[0].value}
    assert {c.key for c in copies} == {str(ticket_id).encode()}
    assert len(await letters_of(stack_settings, DEAD_LETTER.name, early.id)) == 1
    assert len(await ticket_events(stack_settings, ticket_id,
                                   "public_works.ticket.started.v1")) == 1
    assert await status_of(engine, ticket_id) == "completed"
    async with engine.connect() as conn:
        dropped = await conn.scalar(text(
            "SELECT count(*) FROM public_works.inbox WHERE consumer = :c AND event_id = :e"),
            {"c": FIELD_UPDATES, "e": early.id})
        audit = (await conn.execute(text(
            "SELECT dead_letter, reason, original_topic, event_id, event_type, replayed_by, "
            "forced, replayed_at FROM operations.dlq_replays WHERE event_id = :e ORDER BY id"),
            {"e": str(early.id)})).all()
    assert dropped == 1
    assert [tuple(a)[:7] for a in audit] == [
        (replay_of.decode(), "invalid_transition", PUBLIC_WORKS_INTAKE.name, str(early.id),
         "intake.ticket_update.v1", who, forced)
        for who, forced in (("operator-ani", False), ("operator-budi", True))
    ]
    assert audit[0].replayed_at < audit[1].replayed_at

    history = await sinergi(stack_settings, "dlq", "history")
    mine = [r for r in table_rows(history.out) if r[1] == replay_of.decode()]
    assert [(r[4], r[7]) for r in mine] == [("operator-ani", ""), ("operator-budi", "yes")]
    shown = await sinergi(stack_settings, "dlq", "show", offset, *where)
    assert "replayed by operator-ani at " in shown.out
    assert "replayed by operator-budi at " in shown.out and "(forced)" in shown.out


async def _is(engine: AsyncEngine, ticket_id: UUID, status: str) -> bool:
    return await status_of(engine, ticket_id) == status


async def _copies(settings: Settings, event_id: UUID, count: int) -> list[Any]:
    found = await letters_of(settings, PUBLIC_WORKS_INTAKE.name, event_id)
    return found if len(found) >= count else []


async def test_intake_dead_letters_are_listed_and_shown_without_identity_numbers(
    stack_settings: Settings, engine: AsyncEngine, producer
) -> None:
    [intake] = fresh_intakes(1)
    envelope = intake_envelope(f"CASE-{uuid4().hex[:8]}")
    payload = intake.model_dump_json().replace(
        f'"region_code":"{intake.region_code}"', '"region_code":"6499"').encode()
    await producer.send_and_wait(SOCIAL_INTAKE.name, value=payload,
                                 key=intake.kk_number.encode(), headers=envelope.to_headers())
    async with running(stack_settings, engine, "social"):
        [letter] = await until(
            lambda: letters_of(stack_settings, INTAKE_DEAD_LETTER.name, envelope.id),
            what="the refused intake record")

    topic = ["--topic", INTAKE_DEAD_LETTER.name]
    listed = await sinergi(stack_settings, "dlq", "list", *topic)
    [row] = [r for r in table_rows(listed.out) if r[-1] == str(envelope.id)]
    assert row[2] == "schema_violation" and row[4] == "social.intake"
    shown = await sinergi(stack_settings, "dlq", "show", str(letter.offset), "--partition",
                          str(letter.partition), *topic)
    assert shown.code == 0, shown.err
    assert "dlq_reason: schema_violation" in shown.out
    assert "dlq_detail: region_code" in shown.out
    assert "key and payload withheld: this topic carries NIK/KK identity numbers" in shown.out
    for number in [intake.kk_number, *(m.nik for m in intake.members)]:
        assert number not in listed.out + shown.out


async def test_an_offset_without_a_dead_letter_is_refused_in_one_line(
    stack_settings: Settings, engine: AsyncEngine
) -> None:
    run = await sinergi(stack_settings, "dlq", "replay", "999999", "--partition", "0")
    assert run.code == 1
    assert run.err.strip().splitlines() == [
        f"error: no dead letter at offset 999999 on partition 0 of {DEAD_LETTER.name}"]
    wrong = await sinergi(stack_settings, "dlq", "list", "--topic", SOCIAL_HOUSING.name)
    assert wrong.code == 1 and "is not a dead-letter topic" in wrong.err
