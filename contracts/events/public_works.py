"""Events the Public Works service (Dinas PUPR) publishes."""

from datetime import date
from uuid import UUID

from contracts.base import Contract, HouseholdRef, RegionCode
from contracts.events.social import HousingNeed


class WorksTicketOpened(Contract):
    """``public_works.ticket.opened.v1``: one ticket per need of a housing flag."""

    ticket_id: UUID
    household_ref: HouseholdRef
    region_code: RegionCode
    need: HousingNeed
    flag_event_id: UUID
    due_on: date
