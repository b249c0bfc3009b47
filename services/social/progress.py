"""Steps that move a case forward: resolving a housing need, graduating the household."""

from datetime import date
from uuid import UUID

from sqlalchemy import func, update

from contracts.events.social import HouseholdGraduated, HousingNeed, HousingNeedResolved, Resolution
from services.runtime.unit_of_work import UnitOfWork
from services.social.graduation import (
    NeedStatus,
    consecutive_at_or_above,
    graduates,
    graduation_date,
)
from services.social.store import (
    Household,
    children_at_risk,
    income_history,
    last_report_and_resolution,
    need_statuses,
    open_need_count,
)
from services.social.tables import household_needs, households

_STATUS_OF = {Resolution.COMPLETED: NeedStatus.COMPLETED,
              Resolution.REJECTION_ACKNOWLEDGED: NeedStatus.ACKNOWLEDGED}


async def resolve_need(
    uow: UnitOfWork, household: Household, need: HousingNeed, ticket_id: UUID,
    resolution: Resolution, on: date, cause: UUID, poverty_line: int,
) -> None:
    """Mark the need resolved, say so, then see whether the household graduates."""
    await uow.conn.execute(
        update(household_needs)
        .where(household_needs.c.household_ref == household.ref,
               household_needs.c.need == need.value)
        .values(status=_STATUS_OF[resolution], resolved_on=on, updated_at=func.now())
    )
    resolved = await uow.emit(
        HousingNeedResolved(
            household_ref=household.ref, region_code=household.region_code, need=need,
            ticket_id=ticket_id, resolution=resolution,
            open_needs=await open_need_count(uow.conn, household.ref),
        ),
        subject=household.ref, correlationid=household.ref, causationid=cause,
    )
    await graduate_if_ready(uow, household, on, resolved, poverty_line)


async def graduate_if_ready(
    uow: UnitOfWork, household: Household, on: date, cause: UUID, poverty_line: int
) -> None:
    """Graduate the household on ``on`` if it meets every condition; once, never twice."""
    if household.graduated_on is not None:
        return
    conn = uow.conn
    incomes = await income_history(conn, household.ref)
    ready = graduates(incomes, poverty_line, await need_statuses(conn, household.ref),
                      await children_at_risk(conn, household.ref))
    if not ready:
        return
    on = graduation_date(on, await last_report_and_resolution(conn, household.ref))
    await conn.execute(
        update(households).where(households.c.household_ref == household.ref)
        .values(graduated_on=on, updated_at=func.now())
    )
    await uow.emit(
        HouseholdGraduated(
            household_ref=household.ref, region_code=household.region_code, graduated_on=on,
            consecutive_reports_at_or_above_line=consecutive_at_or_above(incomes, poverty_line),
            bansos_ended=True,
        ),
        subject=household.ref, correlationid=household.ref, causationid=cause,
    )
