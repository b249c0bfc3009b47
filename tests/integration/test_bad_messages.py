"""Acceptance: every kind of bad message among valid ones on one partition of the Dinsos
intake topic. Each bad one lands in the intake dead-letter topic with its reason, each
valid one is processed, the partition never stops; a dead letter replayed after its cause
is fixed has its effect once, also when replayed again by force.
"""

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from aiokafka import TopicPartition
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts.catalogue import INTAKE_DEAD_LETTER, SOCIAL_HOUSEHOLD, SOCIAL_INTAKE
from contracts.codec import MAX_PAYLOAD_BYTES, encode
from contracts.envelope import Envelope, new_envelope
from contracts.events.intake import HouseholdIntake, IncomeReport
from contracts.events.public_works import FieldStatus, TicketFieldUpdate
from services.demo.households import intake_envelope, publish_intake
from services.runtime.settings import Settings
from services.social.pseudonym import household_ref
from services.social.tables import households, income_reports
from tests.integration.test_operator_cli import sinergi
from tests.support import committed_offset, consumed_to_end, fresh_intakes, read_all, running, until

pytestmark = pytest.mark.integration

INTAKE_GROUP = "social.intake"
Headers = list[tuple[str, bytes]]


@dataclass
class Sent:
    name: str
    reason: str | None  # None: a valid record
    key: bytes
    value: bytes
    headers: Headers
    offset: int = -1


def case() -> Envelope:
    return intake_envelope(f"CASE-{uuid4().hex[:8]}")


def household(intake: HouseholdIntake) -> Sent:
    headers, payload = encode(case(), intake)
    return Sent(f"valid {intake.kk_number}", None, intake.kk_number.encode(), payload, headers)


def bad(name: str, reason: str, intake: HouseholdIntake, *, value: bytes | None = None,
        headers: Headers | None = None) -> Sent:
    own_headers, payload = encode(case(), intake)
    return Sent(name, reason, intake.kk_number.encode(), payload if value is None else value,
                own_headers if headers is None else headers)


def retyped(headers: Headers, event_type: str) -> Headers:
    return [(k, event_type.encode() if k == "ce_type" else v) for k, v in headers]


def edited(intake: HouseholdIntake, change: Any) -> bytes:
    data = json.loads(intake.model_dump_json())
    change(data)
    return json.dumps(data).encode()


def short_nik(data: dict[str, Any]) -> None:
    data["members"][0]["nik"] = data["members"][0]["nik"][:15]


def income_for(intake: HouseholdIntake) -> tuple[Envelope, Sent]:
    envelope = new_envelope(type="intake.income.v1", source="dinsos-case-system",
                            subject=f"CASE-{uuid4().hex[:8]}", correlationid="income",
                            causationid=None)
    headers, payload = encode(envelope, IncomeReport(
        kk_number=intake.kk_number, monthly_income=5_000_000,
        reported_on=datetime.now(UTC).date()))
    return envelope, Sent("income of an unregistered household", "unknown_household",
                          intake.kk_number.encode(), payload, headers)


def the_messages(pool: list[HouseholdIntake], income: Sent) -> list[Sent]:
    v1, v2, v3, v4, *b = pool
    envelope_headers = encode(case(), b[0])[0]
    ticket_env = new_envelope(type="intake.ticket_update.v1", source="dinsos-case-system",
                              subject="WO-1", correlationid="WO-1", causationid=None)
    ticket_headers, ticket = encode(ticket_env, TicketFieldUpdate(
        ticket_id=uuid4(), status=FieldStatus.SCHEDULED, on=datetime.now(UTC).date()))
    padded = b[6].model_dump_json().encode()
    return [
        household(v1),
        bad("malformed JSON", "malformed_json", b[0], value=b'{"kk_number": "64'),
        bad("missing envelope header", "invalid_envelope", b[1],
            headers=[(k, v) for k, v in envelope_headers if k != "ce_subject"]),
        household(v2),
        bad("unknown type", "unknown_type", b[2],
            headers=retyped(encode(case(), b[2])[0], "intake.pet.v1")),
        bad("unknown version", "unknown_type", b[3],
            headers=retyped(encode(case(), b[3])[0], "intake.household.v9")),
        bad("NIK of 15 digits", "schema_violation", b[4], value=edited(b[4], short_nik)),
        household(v3),
        bad("region code outside Kaltim", "schema_violation", b[5],
            value=edited(b[5], lambda d: d.update(region_code="6499"))),
        bad("oversize", "oversize", b[6],
            value=padded + b" " * (MAX_PAYLOAD_BYTES + 1 - len(padded))),
        bad("invalid UTF-8 header", "invalid_envelope", b[7],
            headers=[(k, b"\xff\xfeCASE" if k == "ce_subject" else v)
                     for k, v in encode(case(), b[7])[0]]),
        bad("wrong topic for the type", "wrong_topic", b[8], value=ticket,
            headers=ticket_headers),
        income,
        household(v4),
    ]


async def test_bad_messages_go_to_dead_letters_between_valid_ones_and_a_fixed_one_replays_once(
    stack_settings: Settings, engine: AsyncEngine, producer
) -> None:
    pool = fresh_intakes(14)
    later = pool.pop()  # registered only after its income report was refused
    income_env, income = income_for(later)
    messages = the_messages(pool, income)
    assert len([m for m in messages if m.reason]) == 10
    key = pseudonym_key(stack_settings)
    async with running(stack_settings, engine, "social"):
        partition = 0
        for m in messages:
            meta = await producer.send_and_wait(SOCIAL_INTAKE.name, value=m.value, key=m.key,
                                                headers=m.headers, partition=partition)
            m.offset = meta.offset
        last = TopicPartition(SOCIAL_INTAKE.name, partition)
        await until(lambda: _committed_past(stack_settings, last, messages[-1].offset),
                    within=120, what="social to finish every record of the partition")

        letters = _by_origin(await read_all(stack_settings, [INTAKE_DEAD_LETTER.name]), partition)
        for m in messages:
            letter = letters.get(m.offset)
            if m.reason is None:
                assert letter is None, m.name
                continue
            assert letter is not None, f"{m.name} is not in {INTAKE_DEAD_LETTER.name}"
            h = dict(letter.headers)
            assert h["dlq_reason"].decode() == m.reason, (m.name, h["dlq_detail"])
            assert h["dlq_consumer_group"] == INTAKE_GROUP.encode()
            assert (letter.key, letter.value) == (m.key, m.value), m.name
        nik = letters[messages[6].offset]
        assert dict(nik.headers)["dlq_detail"].startswith(b"members.0.nik")
        region = dict(letters[messages[8].offset].headers)["dlq_detail"]
        assert region.startswith(b"region_code") and b"6499" in region
        valid = [HouseholdIntake.model_validate_json(m.value) for m in messages if not m.reason]
        registered = await _registered(engine, [household_ref(key, v.kk_number) for v in valid])
        assert registered == len(valid) == 4

        # The cause is fixed: Dinsos registers the household; the operator replays.
        await publish_intake(producer, later, f"CASE-{uuid4().hex[:8]}")
        later_ref = household_ref(key, later.kk_number)
        await until(lambda: _registered(engine, [later_ref]), within=120,
                    what="the household registered after its income was refused")
        assert await _incomes(engine, later_ref) == []
        offset, where = str(letters[income.offset].offset), [
            "--partition", str(letters[income.offset].partition),
            "--topic", INTAKE_DEAD_LETTER.name]
        replayed = await sinergi(stack_settings, "dlq", "replay", offset, *where, "--by", "ani")
        assert replayed.code == 0, replayed.err
        await until(lambda: _incomes(engine, later_ref), within=120,
                    what="the replayed income report recorded")
        forced = await sinergi(stack_settings, "dlq", "replay", offset, *where, "--force")
        assert forced.code == 0, forced.err
        await until(lambda: _copies_consumed(stack_settings, income_env.id), within=120,
                    what="social consuming the forced copy")

    assert await _incomes(engine, later_ref) == [(5_000_000, income_env.id)]
    assert len(await _reported(stack_settings, income_env.id)) == 1
    async with engine.connect() as conn:
        claims = await conn.scalar(text(
            "SELECT count(*) FROM social.inbox WHERE consumer = :c AND event_id = :e"),
            {"c": INTAKE_GROUP, "e": income_env.id})
    assert claims == 1


def pseudonym_key(settings: Settings) -> bytes:
    return settings.pseudonym_key.get_secret_value().encode()


def _by_origin(letters: list[Any], partition: int) -> dict[int, Any]:
    found = {}
    for letter in letters:
        h = dict(letter.headers)
        if (h.get("dlq_topic") == SOCIAL_INTAKE.name.encode()
                and h.get("dlq_partition") == str(partition).encode()):
            found[int(h["dlq_offset"])] = letter
    return found


async def _committed_past(settings: Settings, tp: TopicPartition, offset: int) -> bool:
    return await committed_offset(settings, INTAKE_GROUP, tp) > offset


async def _registered(engine: AsyncEngine, refs: list[str]) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(households)
                                     .where(households.c.household_ref.in_(refs))) or 0)


async def _incomes(engine: AsyncEngine, ref: str) -> list[tuple[int, UUID]]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(income_reports.c.monthly_income,
                                         income_reports.c.event_id)
                                  .where(income_reports.c.household_ref == ref))
    return [tuple(r) for r in rows]


async def _reported(settings: Settings, cause: UUID) -> list[Any]:
    return [r for r in await read_all(settings, [SOCIAL_HOUSEHOLD.name])
            if dict(r.headers).get("ce_type") == b"social.income.reported.v1"
            and dict(r.headers).get("ce_causationid") == str(cause).encode()]


async def _copies_consumed(settings: Settings, event_id: UUID) -> bool:
    copies = [r for r in await read_all(settings, [SOCIAL_INTAKE.name])
              if dict(r.headers).get("ce_id") == str(event_id).encode()]
    return len(copies) == 3 and await consumed_to_end(settings, INTAKE_GROUP,
                                                      [SOCIAL_INTAKE.name])
