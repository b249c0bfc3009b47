"""Dinsos reads a whole batch's identities and households at once; the outcome is what
handling the records one by one gives."""

import asyncio
import secrets
import uuid
from dataclasses import dataclass
from datetime import date

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts.base import Contract
from contracts.catalogue import (
    PUBLIC_WORKS_TICKET,
    SOCIAL_EDUCATION,
    SOCIAL_HOUSING,
    SOCIAL_INTAKE,
)
from contracts.codec import decode, encode
from contracts.envelope import new_envelope
from contracts.events.intake import HouseholdIntake, IncomeReport
from contracts.events.public_works import WorksTicketOpened
from contracts.events.social import HousingNeed
from services.runtime.consumer import Outcome
from services.runtime.deadletter import Record
from services.runtime.service import ServiceRuntime
from services.runtime.settings import Settings
from services.runtime.unit_of_work import UnitOfWork
from services.social.empowerment import school_age_children
from services.social.prefetch import (
    ABSENT,
    known_refs,
    prepare_intake,
    take_household,
    take_referred,
)
from services.social.pseudonym import (
    Keys,
    Kind,
    fingerprint,
    household_ref,
    lookup_hash,
    person_ref,
)
from services.social.rules import housing_needs
from services.social.tables import (
    TABLES,
    household_needs,
    households,
    income_reports,
    pseudonyms,
    referred_children,
)
from tests.support import definitions, fresh_intakes

pytestmark = pytest.mark.integration


def intake_record(data: Contract, offset: int, kk_number: str) -> Record:
    envelope = new_envelope(type=("intake.household.v1" if isinstance(data, HouseholdIntake)
                                  else "intake.income.v1"),
                            source="dinsos-case-system", subject=f"CASE-{kk_number[-6:]}",
                            correlationid=f"CASE-{kk_number[-6:]}", causationid=None)
    headers, payload = encode(envelope, data)
    return Record(SOCIAL_INTAKE.name, 0, offset, kk_number.encode(), payload, tuple(headers))


def ticket_opened_record(ref: str, need: HousingNeed, ticket_id: uuid.UUID,
                         offset: int) -> Record:
    envelope = new_envelope(type="public_works.ticket.opened.v1",
                            source="sinergi/public_works", subject=ref, correlationid=ref,
                            causationid=None)
    headers, payload = encode(envelope, WorksTicketOpened(
        ticket_id=ticket_id, household_ref=ref, region_code="6472", need=need,
        flag_event_id=uuid.uuid4(), due_on=date(2025, 3, 1)))
    return Record(PUBLIC_WORKS_TICKET.name, 0, offset, ref.encode(), payload, tuple(headers))


async def handle(settings: Settings, engine: AsyncEngine, records: list[Record],
                 subscription: str = "social.intake") -> list[Outcome]:
    runtime = ServiceRuntime(definitions(settings)["social"], settings, engine)
    sub = next(s for s in runtime.definition.subscriptions if s.name == subscription)
    await runtime.producer.start()
    try:
        return await runtime.processor.process_batch(sub, records)
    finally:
        await runtime.producer.stop()


async def outbox_count(engine: AsyncEngine, key: str, topic: str) -> int:
    outbox = TABLES.outbox
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(outbox).where(
            outbox.c.key == key, outbox.c.topic == topic)) or 0)


def with_children(intakes: list[HouseholdIntake]) -> list[HouseholdIntake]:
    return [i for i in intakes if school_age_children(i)]


@dataclass(frozen=True)
class Rotation:
    k1: str
    k2: str
    tracked: HouseholdIntake
    legacy: HouseholdIntake
    newcomer: HouseholdIntake
    old: dict[str, str]
    """Each registered household's ref under ``k1``, by KK number."""


async def registered_under_a_retired_key(settings: Settings, engine: AsyncEngine) -> Rotation:
    """Two households with children registered under a key ``k1`` about to be retired for
    ``k2``: ``tracked`` with its lookup rows, ``legacy`` without (as if minted before the
    lookup table existed); and a ``newcomer`` not registered yet."""
    k1, k2 = secrets.token_hex(16), secrets.token_hex(16)
    before = settings.model_copy(update={"pseudonym_key": SecretStr(k1)})
    tracked, legacy = with_children(fresh_intakes(12))[:2]
    await handle(before, engine, [intake_record(h, n, h.kk_number)
                                  for n, h in enumerate((tracked, legacy))])
    old = {h.kk_number: household_ref(k1.encode(), h.kk_number) for h in (tracked, legacy)}
    async with engine.begin() as conn:
        await conn.execute(pseudonyms.delete().where(pseudonyms.c.ref.in_(
            [old[legacy.kk_number], *(person_ref(k1.encode(), m.nik)
                                      for m, _ in school_age_children(legacy))])))
    return Rotation(k1, k2, tracked, legacy, fresh_intakes(1)[0], old)


async def test_a_batch_of_registrations_gets_the_refs_each_would_get_alone(
    stack_settings: Settings, engine: AsyncEngine
) -> None:
    intakes = with_children(fresh_intakes(12))[:4]
    key = stack_settings.pseudonym_key.get_secret_value().encode()
    outcomes = await handle(stack_settings, engine, [
        intake_record(i, n, i.kk_number) for n, i in enumerate(intakes)])
    assert outcomes == [Outcome.PROCESSED] * len(intakes)
    async with engine.connect() as conn:
        for intake in intakes:
            ref = household_ref(key, intake.kk_number)
            assert await conn.scalar(select(func.count()).select_from(households).where(
                households.c.household_ref == ref)) == 1
            children = set((await conn.execute(select(referred_children.c.person_ref).where(
                referred_children.c.household_ref == ref))).scalars())
            assert children == {person_ref(key, m.nik) for m, _ in school_age_children(intake)}


async def test_a_household_registered_twice_in_one_batch_is_flagged_and_referred_once(
    stack_settings: Settings, engine: AsyncEngine
) -> None:
    intake = with_children(fresh_intakes(8))[0]
    key = stack_settings.pseudonym_key.get_secret_value().encode()
    ref = household_ref(key, intake.kk_number)
    outcomes = await handle(stack_settings, engine, [
        intake_record(intake, 1, intake.kk_number), intake_record(intake, 2, intake.kk_number)])
    assert outcomes == [Outcome.PROCESSED, Outcome.PROCESSED]
    assert await outbox_count(engine, ref, SOCIAL_HOUSING.name) == 1
    assert await outbox_count(engine, ref, SOCIAL_EDUCATION.name) == 1


async def test_an_income_report_batched_with_its_registration_finds_the_household(
    stack_settings: Settings, engine: AsyncEngine
) -> None:
    intake = fresh_intakes(1)[0]
    key = stack_settings.pseudonym_key.get_secret_value().encode()
    report = IncomeReport(kk_number=intake.kk_number, monthly_income=3_000_000,
                          reported_on=date(2025, 2, 28))
    early = IncomeReport(kk_number=fresh_intakes(1)[0].kk_number, monthly_income=1,
                         reported_on=date(2025, 2, 28))
    outcomes = await handle(stack_settings, engine, [
        intake_record(early, 1, early.kk_number),  # nobody registered it: refused alone
        intake_record(intake, 2, intake.kk_number),
        intake_record(report, 3, intake.kk_number),
    ])
    assert outcomes == [Outcome.DEAD_LETTERED, Outcome.PROCESSED, Outcome.PROCESSED]
    async with engine.connect() as conn:
        incomes = (await conn.execute(select(income_reports.c.monthly_income).where(
            income_reports.c.household_ref == household_ref(key, intake.kk_number)))).scalars()
        assert list(incomes) == [3_000_000]


async def test_a_batch_under_a_new_key_keeps_the_refs_minted_under_the_retired_one(
    stack_settings: Settings, engine: AsyncEngine
) -> None:
    r = await registered_under_a_retired_key(stack_settings, engine)
    k1, k2, tracked, legacy, newcomer, old = r.k1, r.k2, r.tracked, r.legacy, r.newcomer, r.old
    after = stack_settings.model_copy(update={
        "pseudonym_key": SecretStr(k2), "pseudonym_previous_keys": SecretStr(k1)})

    outcomes = await handle(after, engine, [
        intake_record(h, n, h.kk_number) for n, h in enumerate((tracked, legacy, newcomer))])

    assert outcomes == [Outcome.PROCESSED] * 3
    async with engine.connect() as conn:
        for h in (tracked, legacy):
            assert await conn.scalar(select(func.count()).select_from(households).where(
                households.c.household_ref == household_ref(k2.encode(), h.kk_number))) == 0
            children = set((await conn.execute(select(referred_children.c.person_ref).where(
                referred_children.c.household_ref == old[h.kk_number]))).scalars())
            assert children == {person_ref(k1.encode(), m.nik)
                                for m, _ in school_age_children(h)}
        assert await conn.scalar(select(func.count()).select_from(households).where(
            households.c.household_ref == household_ref(k2.encode(), newcomer.kk_number))) == 1
    for h in (tracked, legacy):  # re-assessed, not registered again, children not re-referred
        assert await outbox_count(engine, old[h.kk_number], SOCIAL_EDUCATION.name) == 1


async def test_the_batch_lookup_hands_the_handlers_each_registered_household_and_its_children(
    stack_settings: Settings, engine: AsyncEngine
) -> None:
    # The handlers fall back to reading a household themselves, so outcomes alone would not
    # show a batch read that missed one: this looks at what the lookup hands them.
    r = await registered_under_a_retired_key(stack_settings, engine)
    k1, k2, tracked, legacy, newcomer, old = r.k1, r.k2, r.tracked, r.legacy, r.newcomer, r.old
    records = [intake_record(h, n, h.kk_number)
               for n, h in enumerate((tracked, legacy, newcomer))]
    events = [decode(rec.topic, rec.headers, rec.value) for rec in records]

    async with UnitOfWork(engine, TABLES, "sinergi/social") as uow:
        await prepare_intake(events, uow, Keys(k2.encode(), (k1.encode(),)))
        for h in (tracked, legacy):
            row = take_household(uow, old[h.kk_number])
            assert row is not ABSENT and row is not None
            assert row.flagged_needs == sorted(n.value for n in housing_needs(
                h.housing, len(h.members)))
            assert take_referred(uow, old[h.kk_number]) == {
                person_ref(k1.encode(), m.nik) for m, _ in school_age_children(h)}
        assert take_household(uow, household_ref(k2.encode(), newcomer.kk_number)) is None


async def waiting_on_a_lock(engine: AsyncEngine, statement_part: str) -> None:
    """Until a session of this database waits on a lock in a statement containing
    ``statement_part`` (at most 10 s)."""
    async with engine.connect() as conn:
        for _ in range(1000):
            if await conn.scalar(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock' AND query LIKE :part"),
                    {"part": f"%{statement_part}%"}):
                return
            await asyncio.sleep(0.01)  # polling pg_stat_activity: no event to await
    raise AssertionError(f"no session waited on a lock in {statement_part!r}")


async def test_a_household_a_concurrent_registration_stored_is_left_for_the_handler_to_read(
    stack_settings: Settings, engine: AsyncEngine
) -> None:
    # The batch's statement cannot see a registration that commits after it looked; the
    # number's lookup row then comes from that registration, and so must the household.
    intake = fresh_intakes(1)[0]
    key = stack_settings.pseudonym_key.get_secret_value().encode()
    ref = household_ref(key, intake.kk_number)
    record = intake_record(intake, 0, intake.kk_number)
    event = decode(record.topic, record.headers, record.value)
    async with engine.connect() as other:
        await other.begin()
        await other.execute(pseudonyms.insert().values(
            lookup_hash=lookup_hash(key, Kind.HOUSEHOLD, intake.kk_number),
            kind=Kind.HOUSEHOLD.value, ref=ref, key_fingerprint=fingerprint(key)))
        await other.execute(households.insert().values(
            household_ref=ref, region_code=intake.region_code, village=intake.village,
            member_count=len(intake.members), monthly_income=intake.monthly_income,
            registered_on=intake.assessed_on, assessed_on=intake.assessed_on,
            flagged_needs=["sanitation"]))
        async with UnitOfWork(engine, TABLES, "sinergi/social") as uow:
            prepared = asyncio.create_task(prepare_intake([event], uow, Keys(key)))
            await waiting_on_a_lock(engine, pseudonyms.fullname)
            await other.commit()
            await prepared
            assert known_refs(uow)[(Kind.HOUSEHOLD, intake.kk_number)] == ref
            assert take_household(uow, ref) is ABSENT


async def registered_needs(settings: Settings, engine: AsyncEngine,
                           count: int) -> list[tuple[str, HousingNeed]]:
    intakes = fresh_intakes(count)  # every one with a housing need
    key = settings.pseudonym_key.get_secret_value().encode()
    await handle(settings, engine, [intake_record(i, n, i.kk_number)
                                    for n, i in enumerate(intakes)])
    return [(household_ref(key, i.kk_number), need) for i in intakes
            for need in housing_needs(i.housing, len(i.members))]


async def tracked_needs(engine: AsyncEngine, refs: set[str]) -> dict[tuple[str, str], tuple]:
    async with engine.connect() as conn:
        return {(r.household_ref, r.need): (r.status, r.ticket_id)
                for r in await conn.execute(select(household_needs).where(
                    household_needs.c.household_ref.in_(refs)))}


async def test_a_batch_of_ticket_openings_gives_each_flagged_need_its_first_ticket(
    stack_settings: Settings, engine: AsyncEngine
) -> None:
    needs = await registered_needs(stack_settings, engine, 3)
    first = {(ref, need.value): uuid.uuid4() for ref, need in needs}
    outcomes = await handle(stack_settings, engine, [
        ticket_opened_record(ref, need, first[(ref, need.value)], n)
        for n, (ref, need) in enumerate(needs)], "social.tickets")
    assert outcomes == [Outcome.PROCESSED] * len(needs)

    ref, need = needs[0]  # a later ticket for a need that has one does not count
    later = await handle(stack_settings, engine, [
        ticket_opened_record(ref, need, uuid.uuid4(), 0),
        ticket_opened_record(needs[-1][0], needs[-1][1], uuid.uuid4(), 1)], "social.tickets")
    assert later == [Outcome.PROCESSED, Outcome.PROCESSED]
    assert await tracked_needs(engine, {ref for ref, _ in needs}) == {
        need: ("open", ticket) for need, ticket in first.items()}


async def test_a_ticket_for_an_unregistered_household_is_refused_alone_in_its_batch(
    stack_settings: Settings, engine: AsyncEngine
) -> None:
    needs = await registered_needs(stack_settings, engine, 2)
    tickets = {(ref, need.value): uuid.uuid4() for ref, need in needs}
    records = [ticket_opened_record(ref, need, tickets[(ref, need.value)], n)
               for n, (ref, need) in enumerate(needs)]
    stranger = "h-" + secrets.token_hex(16)
    records.insert(1, ticket_opened_record(stranger, HousingNeed.SANITATION, uuid.uuid4(), 99))

    outcomes = await handle(stack_settings, engine, records, "social.tickets")

    assert outcomes[1] == Outcome.DEAD_LETTERED
    assert outcomes[:1] + outcomes[2:] == [Outcome.PROCESSED] * len(needs)
    assert await tracked_needs(engine, {ref for ref, _ in needs}) == {
        need: ("open", ticket) for need, ticket in tickets.items()}
