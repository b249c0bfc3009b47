"""Dinsos case-system records after registration: income, grants, mentoring, acknowledgements.

Each record names the household by its KK number; it becomes the household ref at once and
the number goes no further.
"""

from sqlalchemy.dialects.postgresql import insert

from contracts.codec import Event
from contracts.events.intake import (
    GrantAward,
    IncomeReport,
    MentoringVisit,
    RejectionAcknowledgement,
)
from contracts.events.social import (
    GrantAwarded,
    HousingNeed,
    IncomeReported,
    MentoringVisited,
    Resolution,
)
from services.runtime.consumer import Rejected
from services.runtime.unit_of_work import UnitOfWork
from services.social.graduation import NeedStatus, consecutive_at_or_above
from services.social.prefetch import known_refs
from services.social.progress import graduate_if_ready, resolve_need
from services.social.pseudonym import Keys, Kind, find_ref, household_ref
from services.social.store import Household, income_history, lock_household, need_of_ticket
from services.social.tables import grants, income_reports, mentoring_visits


async def _household(uow: UnitOfWork, keys: Keys, kk_number: str) -> Household:
    """The registered household of ``kk_number`` (Rejected if none), under any known key."""
    ref = await find_ref(uow.conn, keys, Kind.HOUSEHOLD, kk_number, known_refs(uow))
    return await lock_household(uow.conn, ref or household_ref(keys.current, kk_number))


async def record_income(
    event: Event[IncomeReport], uow: UnitOfWork, pseudonym_keys: Keys, poverty_line: int
) -> None:
    """Store the report (a second one for the same date corrects it), then check graduation."""
    report = event.data
    household = await _household(uow, pseudonym_keys, report.kk_number)
    stored = dict(monthly_income=report.monthly_income, event_id=event.envelope.id)
    await uow.conn.execute(
        insert(income_reports)
        .values(household_ref=household.ref, reported_on=report.reported_on, **stored)
        .on_conflict_do_update(
            index_elements=[income_reports.c.household_ref, income_reports.c.reported_on],
            set_=stored)
    )
    incomes = await income_history(uow.conn, household.ref)
    reported = await uow.emit(
        IncomeReported(
            household_ref=household.ref, region_code=household.region_code,
            monthly_income=report.monthly_income, poverty_line=poverty_line,
            reported_on=report.reported_on,
            consecutive_at_or_above_line=consecutive_at_or_above(incomes, poverty_line),
        ),
        subject=household.ref, correlationid=household.ref, causationid=event.envelope.id,
    )
    await graduate_if_ready(uow, household, report.reported_on, reported, poverty_line)


async def award_grant(event: Event[GrantAward], uow: UnitOfWork, pseudonym_keys: Keys) -> None:
    """Record a grant handed over, eligible household or not.

    The record reports money already paid out: refusing it would leave the case without
    it. Whether the award was justified is for the case officer's review, not the backbone.
    """
    award = event.data
    household = await _household(uow, pseudonym_keys, award.kk_number)
    await uow.conn.execute(grants.insert().values(
        event_id=event.envelope.id, household_ref=household.ref, amount=award.amount,
        business_type=award.business_type, mentor=award.mentor, awarded_on=award.awarded_on,
    ))
    await uow.emit(
        GrantAwarded(
            household_ref=household.ref, region_code=household.region_code, amount=award.amount,
            business_type=award.business_type, mentor=award.mentor, awarded_on=award.awarded_on,
        ),
        subject=household.ref, correlationid=household.ref, causationid=event.envelope.id,
    )


async def record_mentoring_visit(
    event: Event[MentoringVisit], uow: UnitOfWork, pseudonym_keys: Keys
) -> None:
    visit = event.data
    household = await _household(uow, pseudonym_keys, visit.kk_number)
    await uow.conn.execute(mentoring_visits.insert().values(
        event_id=event.envelope.id, household_ref=household.ref,
        business_status=visit.business_status.value, monthly_revenue=visit.monthly_revenue,
        visited_on=visit.visited_on,
    ))
    await uow.emit(
        MentoringVisited(
            household_ref=household.ref, business_status=visit.business_status,
            monthly_revenue=visit.monthly_revenue, visited_on=visit.visited_on,
        ),
        subject=household.ref, correlationid=household.ref, causationid=event.envelope.id,
    )


async def acknowledge_rejection(
    event: Event[RejectionAcknowledgement], uow: UnitOfWork, pseudonym_keys: Keys,
    poverty_line: int,
) -> None:
    """Dinsos accepts Public Works' refusal: the ticket's need is resolved."""
    ack = event.data
    household = await _household(uow, pseudonym_keys, ack.kk_number)
    need = await need_of_ticket(uow.conn, household.ref, ack.ticket_id)
    if need is None or need.status != NeedStatus.REJECTED:
        state = "unknown" if need is None else need.status
        raise Rejected("ticket_not_rejected",
                       f"ticket {ack.ticket_id} of household {household.ref} is {state}")
    await resolve_need(uow, household, HousingNeed(need.need), ack.ticket_id,
                       Resolution.REJECTION_ACKNOWLEDGED, ack.acknowledged_on,
                       event.envelope.id, poverty_line)
