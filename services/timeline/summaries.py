"""A one-line summary per event type: pure functions of the data."""

from collections.abc import Callable

from contracts.base import Contract
from contracts.events.public_works import WorksTicketOpened
from contracts.events.social import HouseholdRegistered, HousingAssessed, HousingFlagged
from contracts.regions import kaltim_regions

AGENCIES = {"social": "Dinsos", "public_works": "Dinas PUPR", "education": "Disdik"}


def _registered(d: HouseholdRegistered) -> str:
    region = kaltim_regions()[d.region_code].name
    return f"Registered in {region} ({d.region_code}) with {d.member_count} members"


def _assessed(d: HousingAssessed) -> str:
    needs = ", ".join(n.value for n in d.needs) or "no housing needs"
    return f"Housing assessed: {needs} ({d.floor_area_per_person_m2} m² per person)"


def _flagged(d: HousingFlagged) -> str:
    return f"Housing flagged for Public Works: {', '.join(n.value for n in d.needs)}"


def _ticket_opened(d: WorksTicketOpened) -> str:
    return f"Works ticket …{str(d.ticket_id)[-8:]} opened for {d.need.value}, due {d.due_on}"


SUMMARIES: dict[type, Callable] = {
    HouseholdRegistered: _registered,
    HousingAssessed: _assessed,
    HousingFlagged: _flagged,
    WorksTicketOpened: _ticket_opened,
}


def summarise(data: Contract) -> str:
    summary = SUMMARIES.get(type(data))
    return summary(data) if summary else type(data).__name__


def agency_of(event_type: str) -> str:
    return AGENCIES.get(event_type.split(".", 1)[0], event_type.split(".", 1)[0])
