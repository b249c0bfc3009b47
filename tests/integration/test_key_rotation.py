"""Rotating the pseudonym key on the real stack: refs once minted stay the household's.

Social runs under key K1, then under K2 with K1 retired (SINERGI_PSEUDONYM_PREVIOUS_KEYS),
then under K2 alone. One household's K1 lookup rows are deleted to stand for a household
registered before the lookup table existed: its ref is found as K1's ref of its KK.
"""

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date

import pytest
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts.catalogue import INTAKE_DEAD_LETTER
from contracts.events.intake import HouseholdIntake, IncomeReport
from services.runtime.service import ServiceRuntime
from services.runtime.settings import Settings
from services.social.bootstrap import build as build_social
from services.social.pseudonym import Kind, fingerprint, household_ref, lookup_hash, person_ref
from services.social.tables import pseudonyms
from tests.integration.test_social_flows import (
    INCOME,
    REGISTERED,
    dead_letters,
    emitted,
    household,
    member,
    on_timeline,
    publish_record,
    timeline,
)
from tests.support import definitions, until

pytestmark = pytest.mark.integration

REFERRED = "social.education.referred.v1"
ASSESSED = "social.housing.assessed.v1"


@asynccontextmanager
async def social_with(settings: Settings, engine: AsyncEngine, current: bytes,
                      previous: tuple[bytes, ...] = ()) -> AsyncIterator[None]:
    """Social under the given keys, with the timeline projecting what it publishes."""
    runtimes = [ServiceRuntime(build_social(current, settings.poverty_line, previous),
                               settings, engine),
                ServiceRuntime(definitions(settings)["timeline"], settings, engine)]
    started: list[ServiceRuntime] = []
    try:
        for runtime in runtimes:
            await runtime.start()
            started.append(runtime)
        yield
    finally:
        for runtime in reversed(started):
            await runtime.stop()


def reassessed(intake: HouseholdIntake) -> HouseholdIntake:
    """The same KK a month later, with one more school-age child."""
    return intake.model_copy(update={"members": [*intake.members, member(8)],
                                     "assessed_on": date(2025, 7, 15)})


def report(intake: HouseholdIntake, month: int) -> IncomeReport:
    return IncomeReport(kk_number=intake.kk_number, monthly_income=1_600_000,
                        reported_on=date(2025, month, 28))


async def forget_lookups(engine: AsyncEngine, key: bytes, intake: HouseholdIntake) -> None:
    """As if registered before the lookup table: no row for its KK or NIKs."""
    hashes = [lookup_hash(key, Kind.HOUSEHOLD, intake.kk_number),
              *(lookup_hash(key, Kind.PERSON, m.nik) for m in intake.members)]
    async with engine.begin() as conn:
        await conn.execute(delete(pseudonyms).where(pseudonyms.c.lookup_hash.in_(hashes)))


async def lookup_ref(engine: AsyncEngine, key: bytes, kind: Kind, number: str) -> str | None:
    async with engine.connect() as conn:
        return await conn.scalar(select(pseudonyms.c.ref).where(
            pseudonyms.c.lookup_hash == lookup_hash(key, kind, number),
            pseudonyms.c.key_fingerprint == fingerprint(key)))


async def test_refs_minted_under_a_retired_key_survive_rotation_and_its_removal(
    stack_settings: Settings, engine: AsyncEngine, producer
) -> None:
    k1, k2 = secrets.token_bytes(16).hex().encode(), secrets.token_bytes(16).hex().encode()
    tracked, legacy, newcomer = household(child_ages=(10,)), household(child_ages=(9,)), household()
    old = {h.kk_number: household_ref(k1, h.kk_number) for h in (tracked, legacy)}

    async with social_with(stack_settings, engine, k1):
        for h in (tracked, legacy):
            await publish_record(producer, h, h.kk_number)
        for h in (tracked, legacy):
            await on_timeline(engine, old[h.kk_number], REFERRED)
    await forget_lookups(engine, k1, legacy)

    later = {h.kk_number: reassessed(h) for h in (tracked, legacy)}
    async with social_with(stack_settings, engine, k2, (k1,)):
        for h in (tracked, legacy):
            await publish_record(producer, report(h, 6), h.kk_number)
            await publish_record(producer, later[h.kk_number], h.kk_number)
        await publish_record(producer, newcomer, newcomer.kk_number)
        for h in (tracked, legacy):
            await on_timeline(engine, old[h.kk_number], INCOME)
            await on_timeline(engine, old[h.kk_number], ASSESSED, count=2)
            [_, second] = await on_timeline(engine, old[h.kk_number], REFERRED, count=2)
            new_child = later[h.kk_number].members[-1]
            assert [c["person_ref"] for c in second["data"]["children"]] == [
                person_ref(k2, new_child.nik)]
            assert await emitted(engine, household_ref(k2, h.kk_number)) == []
            assert (await emitted(engine, old[h.kk_number])).count(REGISTERED) == 1
            assert await lookup_ref(engine, k2, Kind.HOUSEHOLD, h.kk_number) \
                == old[h.kk_number]
            assert await lookup_ref(engine, k2, Kind.PERSON, h.members[-1].nik) \
                == person_ref(k1, h.members[-1].nik)
        await on_timeline(engine, household_ref(k2, newcomer.kk_number), REGISTERED)

    async with social_with(stack_settings, engine, k2):
        for h in (tracked, legacy):
            await publish_record(producer, report(h, 7), h.kk_number)
        for h in (tracked, legacy):
            await on_timeline(engine, old[h.kk_number], INCOME, count=2)
            assert (await emitted(engine, old[h.kk_number])).count(REGISTERED) == 1
        assert len(await timeline(engine, household_ref(k2, tracked.kk_number), INCOME)) == 0


async def test_a_retired_key_alone_leaves_an_unseen_household_unresolved(
    stack_settings: Settings, engine: AsyncEngine, producer
) -> None:
    """Why a key may only be dropped after re-keying: without it the old ref is not found."""
    k1, k2 = secrets.token_bytes(16).hex().encode(), secrets.token_bytes(16).hex().encode()
    unseen = household()
    async with social_with(stack_settings, engine, k1):
        await publish_record(producer, unseen, unseen.kk_number)
        await on_timeline(engine, household_ref(k1, unseen.kk_number), REGISTERED)

    async with social_with(stack_settings, engine, k2):
        envelope = await publish_record(producer, report(unseen, 6), unseen.kk_number)
        [refused] = await until(lambda: dead_letters(stack_settings, INTAKE_DEAD_LETTER.name,
                                                     envelope), what="the report refused")
    assert dict(refused.headers)["dlq_reason"] == b"unknown_household"
    assert await timeline(engine, household_ref(k1, unseen.kk_number), INCOME) == []
