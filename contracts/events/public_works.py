"""Events the Public Works service (Dinas PUPR) publishes, and its field system's updates."""

from datetime import date
from enum import StrEnum
from uuid import UUID

from pydantic import model_validator

from contracts.base import Contract, HouseholdRef, RegionCode
from contracts.events.social import HousingNeed


class FieldStatus(StrEnum):
    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    REJECTED = "rejected"


class RejectionReason(StrEnum):
    UNCLEAR_LAND_STATUS = "unclear_land_status"
    DUPLICATE = "duplicate"
    OUTSIDE_SERVICE_AREA = "outside_service_area"


class TicketFieldUpdate(Contract):
    """``intake.ticket_update.v1`` from the Public Works field system, keyed by ticket id."""

    ticket_id: UUID
    status: FieldStatus
    on: date
    reason: RejectionReason | None = None

    @model_validator(mode="after")
    def _reason_only_for_rejection(self) -> "TicketFieldUpdate":
        if (self.status is FieldStatus.REJECTED) != (self.reason is not None):
            raise ValueError("a reason is given exactly when the status is rejected")
        return self


class _Ticket(Contract):
    ticket_id: UUID
    household_ref: HouseholdRef
    region_code: RegionCode
    need: HousingNeed


class WorksTicketOpened(_Ticket):
    """``public_works.ticket.opened.v1``: one ticket per need of a housing flag."""

    flag_event_id: UUID
    due_on: date

    def summary(self) -> str:
        return f"Works ticket …{str(self.ticket_id)[-8:]} opened for {self.need.value}, " \
               f"due {self.due_on}"


class WorksTicketScheduled(_Ticket):
    """``public_works.ticket.scheduled.v1``."""

    scheduled_on: date

    def summary(self) -> str:
        return f"Works ticket …{str(self.ticket_id)[-8:]} ({self.need.value}) scheduled"


class WorksTicketStarted(_Ticket):
    """``public_works.ticket.started.v1``: work in progress."""

    started_on: date

    def summary(self) -> str:
        return f"Work started on {self.need.value}"


class WorksTicketCompleted(_Ticket):
    """``public_works.ticket.completed.v1``: flows back to Dinsos."""

    completed_on: date
    late: bool

    def summary(self) -> str:
        return f"Work completed: {self.need.value}" + (" (past due)" if self.late else "")


class WorksTicketRejected(_Ticket):
    """``public_works.ticket.rejected.v1``: flows back to Dinsos with the reason."""

    rejected_on: date
    reason: RejectionReason

    def summary(self) -> str:
        return f"Works ticket for {self.need.value} rejected: {self.reason.value}"
