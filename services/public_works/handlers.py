"""Public Works handlers."""

from contracts.codec import Event
from contracts.events.public_works import WorksTicketOpened
from contracts.events.social import HousingFlagged, HousingNeed
from contracts.ids import new_event_id
from services.public_works.rules import due_on
from services.public_works.tables import tickets
from services.runtime.unit_of_work import UnitOfWork


async def open_tickets(
    event: Event[HousingFlagged], uow: UnitOfWork, due_days: dict[HousingNeed, int]
) -> None:
    """Open exactly one works ticket per need of the flag, each caused by the flag."""
    flag = event.data
    flagged_on = event.envelope.time.date()
    for need in flag.needs:
        ticket_id = new_event_id()
        due = due_on(need, flagged_on, due_days)
        await uow.conn.execute(
            tickets.insert().values(
                ticket_id=ticket_id, household_ref=flag.household_ref,
                region_code=flag.region_code, need=need.value,
                flag_event_id=event.envelope.id, status="opened", due_on=due,
            )
        )
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
