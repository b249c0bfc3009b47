"""Reading a household's case state inside a unit of work (SQLAlchemy Core, no events)."""

from dataclasses import dataclass
from datetime import date
from uuid import UUID

from sqlalchemy import Row, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.runtime.consumer import Rejected
from services.social.graduation import RESOLVED, NeedStatus
from services.social.tables import (
    dropout_risks,
    household_needs,
    households,
    income_reports,
    referred_children,
)


@dataclass(frozen=True)
class Household:
    ref: str
    region_code: str
    graduated_on: date | None


async def lock_household(conn: AsyncConnection, ref: str) -> Household:
    """The household, its row locked until commit, or Rejected if Dinsos never registered it.

    Income, tickets and pupils arrive on different consumers; the lock makes each
    household's graduation check see the others' committed effects, never a stale mix.
    """
    row = (await conn.execute(
        select(households.c.region_code, households.c.graduated_on)
        .where(households.c.household_ref == ref).with_for_update()
    )).first()
    if row is None:
        raise not_registered(ref)
    return Household(ref, row.region_code, row.graduated_on)


def not_registered(ref: str) -> Rejected:
    """The refusal of an event about a household Dinsos never registered."""
    return Rejected("unknown_household", f"household {ref} is not registered with Dinsos")


async def income_history(conn: AsyncConnection, ref: str) -> list[int]:
    """Reported incomes, oldest report first."""
    rows = await conn.execute(
        select(income_reports.c.monthly_income)
        .where(income_reports.c.household_ref == ref).order_by(income_reports.c.reported_on)
    )
    return [int(v) for v in rows.scalars()]


async def last_report_and_resolution(conn: AsyncConnection, ref: str) -> list[date]:
    """The dates of the latest income report and the latest resolved need, where any."""
    report = select(func.max(income_reports.c.reported_on)).where(
        income_reports.c.household_ref == ref).scalar_subquery()
    resolution = select(func.max(household_needs.c.resolved_on)).where(
        household_needs.c.household_ref == ref).scalar_subquery()
    row = (await conn.execute(select(report, resolution))).one()
    return [d for d in row if d is not None]


async def need_statuses(conn: AsyncConnection, ref: str) -> list[NeedStatus]:
    rows = await conn.execute(
        select(household_needs.c.status).where(household_needs.c.household_ref == ref))
    return [NeedStatus(s) for s in rows.scalars()]


async def open_need_count(conn: AsyncConnection, ref: str) -> int:
    return sum(s not in RESOLVED for s in await need_statuses(conn, ref))


async def need_of_ticket(conn: AsyncConnection, ref: str, ticket_id: UUID) -> Row | None:
    return (await conn.execute(
        select(household_needs.c.need, household_needs.c.status).where(
            household_needs.c.household_ref == ref, household_needs.c.ticket_id == ticket_id)
    )).first()


async def children_at_risk(conn: AsyncConnection, ref: str) -> int:
    """Children with an open dropout risk who belong to the household now: raised under it
    or under another household, unless another household referred the child later, in
    Dinsos's order (a family card split moves a child, and its risk with it)."""
    return int(await conn.scalar(text(_CHILDREN_AT_RISK), {"ref": ref}) or 0)


_CHILDREN_AT_RISK = f"""
WITH risks AS (
  SELECT r.person_ref FROM {dropout_risks.fullname} r
  WHERE r.household_ref = :ref AND r.reengaged_event_id IS NULL
  UNION ALL
  SELECT r.person_ref FROM {referred_children.fullname} c
  JOIN {dropout_risks.fullname} r ON r.person_ref = c.person_ref
  WHERE c.household_ref = :ref AND r.reengaged_event_id IS NULL)
SELECT count(DISTINCT k.person_ref) FROM risks k
WHERE NOT EXISTS (
  SELECT 1 FROM {referred_children.fullname} later
  WHERE later.person_ref = k.person_ref AND later.household_ref <> :ref
    AND later.referred_at > COALESCE(
        (SELECT mine.referred_at FROM {referred_children.fullname} mine
         WHERE mine.household_ref = :ref AND mine.person_ref = k.person_ref),
        '-infinity'::timestamptz))
"""
