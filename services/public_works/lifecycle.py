"""Ticket lifecycle: which field update may move a ticket where. Pure functions, no I/O.

    opened → scheduled → in_progress → completed
    opened | scheduled | in_progress → rejected (with a reason)

Nothing leaves completed or rejected, and no step is skipped.
"""

from datetime import date
from enum import StrEnum

from contracts.events.public_works import FieldStatus


class TicketStatus(StrEnum):
    OPENED = "opened"
    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    REJECTED = "rejected"


FINAL = frozenset({TicketStatus.COMPLETED, TicketStatus.REJECTED})

_FORWARD = {
    TicketStatus.OPENED: TicketStatus.SCHEDULED,
    TicketStatus.SCHEDULED: TicketStatus.IN_PROGRESS,
    TicketStatus.IN_PROGRESS: TicketStatus.COMPLETED,
}


class InvalidTransition(ValueError):
    """A field update the ticket's current status does not allow; the message is ``a -> b``."""

    def __init__(self, current: TicketStatus, requested: TicketStatus) -> None:
        super().__init__(f"{current.value} -> {requested.value}")
        self.current = current
        self.requested = requested


def next_status(current: TicketStatus, update: FieldStatus) -> TicketStatus:
    """The status a ticket in ``current`` moves to on a field update of ``update``.

    An update repeating the status the ticket already has returns ``current`` unchanged,
    even for completed and rejected: field systems resend updates, and a resend must
    neither be refused nor announced twice. The first update's date and reason stand.
    Raises InvalidTransition for any other move the lifecycle does not allow.
    """
    requested = TicketStatus(update.value)
    if requested is current:
        return current
    if current not in FINAL and (
        requested is TicketStatus.REJECTED or _FORWARD.get(current) is requested
    ):
        return requested
    raise InvalidTransition(current, requested)


def is_late(completed_on: date, due_on: date) -> bool:
    """Completed after the due date; completing on the due date itself is on time."""
    return completed_on > due_on
