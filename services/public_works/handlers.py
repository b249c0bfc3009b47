"""Public Works handlers."""

from typing import Any

import structlog
from sqlalchemy import Row, select

from contracts.base import Contract
from contracts.codec import Event
from contracts.events.public_works import (
    FieldStatus,
    TicketFieldUpdate,
    WorksTicketCompleted,
    WorksTicketOpened,
    WorksTicketRejected,
    WorksTicketScheduled,
    WorksTicketStarted,
)
from contracts.events.social import HousingFlagged, HousingNeed
from contracts.ids import new_event_id
from contracts.regions import local_date
from services.public_works.lifecycle import InvalidTransition, TicketStatus, is_late, next_status
from services.public_works.rules import due_on
from services.public_works.tables import tickets
from services.runtime.consumer import Rejected
from services.runtime.unit_of_work import UnitOfWork

log = structlog.get_logger()

_DATE_COLUMN = {
    TicketStatus.SCHEDULED: "scheduled_on",
    TicketStatus.IN_PROGRESS: "started_on",
    TicketStatus.COMPLETED: "completed_on",
    TicketStatus.REJECTED: "rejected_on",
}


async def open_tickets(
    event: Event[HousingFlagged], uow: UnitOfWork, due_days: dict[HousingNeed, int]
) -> None:
    """Open exactly one works ticket per need of the flag, each caused by the flag."""
    flag = event.data
    flagged_on = local_date(event.envelope.time)  # the day Kaltim staff would write
    for need in flag.needs:
        ticket_id = new_event_id()
        due = due_on(need, flagged_on, due_days)
        uow.add(tickets, dict(
            ticket_id=ticket_id, household_ref=flag.household_ref,
            region_code=flag.region_code, need=need.value,
            flag_event_id=event.envelope.id, status="opened", due_on=due,
        ))
        await uow.emit(
            WorksTicketOpened(
                ticket_id=ticket_id, household_ref=flag.household_ref,
                region_code=flag.region_code, need=need, flag_event_id=event.envelope.id,
                due_on=due,
            ),
            subject=flag.household_ref,
            correlationid=event.envelope.correlationid,
            causationid=event.envelope.id,
        )


async def update_ticket(event: Event[TicketFieldUpdate], uow: UnitOfWork) -> None:
    """Move a ticket along its lifecycle on a field update and announce the step.

    An unknown ticket or a move the lifecycle forbids is refused for good (dead letter);
    a resent status the ticket already has changes nothing and announces nothing.
    """
    update = event.data
    ticket = (
        await uow.conn.execute(
            select(tickets).where(tickets.c.ticket_id == update.ticket_id).with_for_update()
        )
    ).first()
    if ticket is None:
        raise Rejected("unknown_ticket", f"no works ticket {update.ticket_id}")
    current = TicketStatus(ticket.status)
    try:
        new = next_status(current, update.status)
    except InvalidTransition as exc:
        raise Rejected("invalid_transition", str(exc)) from None
    if new is current:
        log.info("ticket_update_repeated", ticket_id=str(update.ticket_id), status=current.value)
        return

    values: dict[str, Any] = {"status": new.value, _DATE_COLUMN[new]: update.on}
    if update.reason is not None:
        values["rejection_reason"] = update.reason.value
    await uow.conn.execute(
        tickets.update().where(tickets.c.ticket_id == update.ticket_id).values(**values)
    )
    await uow.emit(
        _step_event(ticket, update),
        subject=ticket.household_ref,
        correlationid=ticket.household_ref,
        causationid=event.envelope.id,
    )


def _step_event(ticket: Row[Any], update: TicketFieldUpdate) -> Contract:
    common: dict[str, Any] = dict(
        ticket_id=ticket.ticket_id, household_ref=ticket.household_ref,
        region_code=ticket.region_code, need=HousingNeed(ticket.need),
    )
    match update.status:
        case FieldStatus.SCHEDULED:
            return WorksTicketScheduled(**common, scheduled_on=update.on)
        case FieldStatus.IN_PROGRESS:
            return WorksTicketStarted(**common, started_on=update.on)
        case FieldStatus.COMPLETED:
            return WorksTicketCompleted(
                **common, completed_on=update.on, late=is_late(update.on, ticket.due_on)
            )
        case FieldStatus.REJECTED:
            assert update.reason is not None  # the contract requires it for a rejection
            return WorksTicketRejected(**common, rejected_on=update.on, reason=update.reason)
