"""What other agencies tell Dinsos: works tickets from Public Works, pupils from Education."""


from sqlalchemy import select, update

from contracts.codec import Event
from contracts.events.education import DropoutRisk, PupilReengaged
from contracts.events.public_works import (
    WorksTicketCompleted,
    WorksTicketOpened,
    WorksTicketRejected,
)
from contracts.events.social import FollowUpOpened, HousingNeed, Resolution
from contracts.regions import local_date
from services.runtime.consumer import Rejected
from services.runtime.unit_of_work import UnitOfWork
from services.social.graduation import RESOLVED, NeedStatus
from services.social.prefetch import registered
from services.social.progress import graduate_if_ready, resolve_need
from services.social.store import lock_household, need_of_ticket, not_registered
from services.social.tables import dropout_risks, household_needs

"""East Kalimantan's clock (Waktu Indonesia Tengah, no daylight saving)."""


# The first ticket per need counts: only a need still waiting for one takes it.
_TRACK_TICKET = (
    "ON CONFLICT (household_ref, need) DO UPDATE SET status = EXCLUDED.status, "
    f"ticket_id = EXCLUDED.ticket_id WHERE household_needs.status = '{NeedStatus.FLAGGED}'"
)


async def track_ticket(event: Event[WorksTicketOpened], uow: UnitOfWork) -> None:
    """Remember which ticket works on which flagged need; the first ticket per need counts.

    Written with the batch's other tickets at commit (``uow.add``): nothing in a batch of
    ticket events reads it back, except the completion or rejection of a ticket opened in
    the same batch, which then finds no ticket and sends the batch one record at a time.
    """
    ticket = event.data
    known = registered(uow, ticket.household_ref)
    if known is None:  # handled alone, without the batch's prefetch
        await lock_household(uow.conn, ticket.household_ref)
    elif not known:
        raise not_registered(ticket.household_ref)
    uow.add(household_needs, dict(household_ref=ticket.household_ref, need=ticket.need.value,
                                  status=NeedStatus.OPEN.value, ticket_id=ticket.ticket_id),
            _TRACK_TICKET)


async def _tracked_need(uow: UnitOfWork, ref: str, ticket: WorksTicketCompleted
                        | WorksTicketRejected) -> tuple[HousingNeed, NeedStatus]:
    """The need the ticket was opened for, as Dinsos recorded it, and where it stands."""
    row = await need_of_ticket(uow.conn, ref, ticket.ticket_id)
    if row is None:
        raise Rejected("unknown_ticket", f"ticket {ticket.ticket_id} was never opened for {ref}")
    return HousingNeed(row.need), NeedStatus(row.status)


async def resolve_completed_need(
    event: Event[WorksTicketCompleted], uow: UnitOfWork, poverty_line: int
) -> None:
    ticket = event.data
    household = await lock_household(uow.conn, ticket.household_ref)
    need, status = await _tracked_need(uow, household.ref, ticket)
    if status in RESOLVED:
        return
    await resolve_need(uow, household, need, ticket.ticket_id, Resolution.COMPLETED,
                       ticket.completed_on, event.envelope.id, poverty_line)


async def record_ticket_rejection(event: Event[WorksTicketRejected], uow: UnitOfWork) -> None:
    """The need stays open until Dinsos acknowledges the reason (``intake.rejection_ack``)."""
    ticket = event.data
    household = await lock_household(uow.conn, ticket.household_ref)
    _, status = await _tracked_need(uow, household.ref, ticket)
    if status in RESOLVED:
        return
    await uow.conn.execute(
        update(household_needs)
        .where(household_needs.c.household_ref == household.ref,
               household_needs.c.ticket_id == ticket.ticket_id)
        .values(status=NeedStatus.REJECTED, rejection_reason=ticket.reason.value)
    )


async def open_follow_up(event: Event[DropoutRisk], uow: UnitOfWork) -> None:
    """Exactly one case follow-up per dropout-risk event; the child is at risk until re-engaged."""
    risk = event.data
    household = await lock_household(uow.conn, risk.household_ref)
    seen = await uow.conn.scalar(select(dropout_risks.c.risk_event_id).where(
        dropout_risks.c.risk_event_id == event.envelope.id))
    if seen is not None:
        return
    follow_up = await uow.emit(
        FollowUpOpened(household_ref=household.ref, person_ref=risk.person_ref,
                       risk_event_id=event.envelope.id),
        subject=household.ref, correlationid=household.ref, causationid=event.envelope.id,
    )
    await uow.conn.execute(dropout_risks.insert().values(
        risk_event_id=event.envelope.id, household_ref=household.ref,
        person_ref=risk.person_ref, follow_up_event_id=follow_up,
    ))


async def close_dropout_risk(
    event: Event[PupilReengaged], uow: UnitOfWork, poverty_line: int
) -> None:
    """The child is back in school: every open risk of that child ends, whichever
    household it was raised under (a child referred again by another household takes its
    risks along: ``store.children_at_risk``), then graduation.

    The event carries a month, not a day, so the graduation date is the day (in Kaltim)
    Education published it.
    """
    pupil = event.data
    household = await lock_household(uow.conn, pupil.household_ref)
    await uow.conn.execute(
        update(dropout_risks)
        .where(dropout_risks.c.person_ref == pupil.person_ref,
               dropout_risks.c.reengaged_event_id.is_(None))
        .values(reengaged_event_id=event.envelope.id)
    )
    published_on = local_date(event.envelope.time)
    await graduate_if_ready(uow, household, published_on, event.envelope.id, poverty_line)
