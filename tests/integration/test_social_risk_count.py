"""Which household a child's open dropout risk counts for, at each boundary of its referrals
(in the order Dinsos wrote them: ``referred_at``)."""

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from services.social.store import children_at_risk
from services.social.tables import dropout_risks, households, referred_children

pytestmark = pytest.mark.integration

DAY = date(2025, 6, 15)
AT = datetime(2025, 6, 15, 8, tzinfo=UTC)


async def counts(engine: AsyncEngine, referred: dict[str, datetime], raised_under: str,
                 reengaged: bool = False) -> dict[str, int]:
    """Households ``referred`` (ref → when Dinsos wrote its referral), one risk raised
    under ``raised_under``; how many children at risk each household counts."""
    child = f"p-{uuid.uuid4().hex}"
    refs = {*referred, raised_under}
    async with engine.begin() as conn:
        await conn.execute(households.insert(), [dict(
            household_ref=r, region_code="6402", village="Loa Janan", member_count=3,
            monthly_income=1, registered_on=DAY, assessed_on=DAY) for r in refs])
        if referred:
            await conn.execute(referred_children.insert(), [dict(
                household_ref=r, person_ref=child, referred_on=DAY, referred_at=at)
                for r, at in referred.items()])
        await conn.execute(dropout_risks.insert().values(
            risk_event_id=uuid.uuid4(), household_ref=raised_under, person_ref=child,
            follow_up_event_id=uuid.uuid4(),
            reengaged_event_id=uuid.uuid4() if reengaged else None))
        return {r: await children_at_risk(conn, r) for r in refs}


def new() -> str:
    return f"h-{uuid.uuid4().hex}"


async def test_a_risk_counts_where_it_was_raised_while_no_one_else_referred_the_child(
    engine: AsyncEngine,
) -> None:
    h1 = new()
    assert await counts(engine, {h1: AT}, h1) == {h1: 1}
    h1 = new()
    assert await counts(engine, {}, h1) == {h1: 1}  # raised, never referred here: still counts


async def test_a_later_referral_elsewhere_takes_the_risk_there_and_an_earlier_does_not(
    engine: AsyncEngine,
) -> None:
    h1, h2 = new(), new()
    assert await counts(engine, {h1: AT, h2: AT + timedelta(microseconds=1)}, h1) == {h1: 0, h2: 1}
    h1, h2 = new(), new()
    assert await counts(engine, {h1: AT, h2: AT - timedelta(microseconds=1)}, h1) == {h1: 1, h2: 0}


async def test_referrals_written_at_the_same_instant_both_count_the_child(
    engine: AsyncEngine,
) -> None:
    h1, h2 = new(), new()
    assert await counts(engine, {h1: AT, h2: AT}, h1) == {h1: 1, h2: 1}


async def test_a_reengaged_child_counts_nowhere(engine: AsyncEngine) -> None:
    h1, h2 = new(), new()
    assert await counts(engine, {h1: AT, h2: AT + timedelta(microseconds=1)}, h1,
                        reengaged=True) == {h1: 0, h2: 0}
