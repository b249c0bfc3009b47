"""The topic catalogue and the event types each topic carries.

Topics are created from this catalogue (never by broker auto-creation); the key of
every agency topic is the household ref, so one household's events stay in order.
"""

import builtins
from dataclasses import dataclass

from contracts.base import Contract
from contracts.events.intake import HouseholdIntake
from contracts.events.public_works import WorksTicketOpened
from contracts.events.social import HouseholdRegistered, HousingAssessed, HousingFlagged

DAY_MS = 24 * 60 * 60 * 1000


@dataclass(frozen=True)
class TopicSpec:
    name: str
    description: str
    partitions: int
    retention_ms: int
    writers: tuple[str, ...]
    readers: tuple[str, ...]
    intake: bool = False
    """Intake topics carry identity numbers and are read by the social service only."""


@dataclass(frozen=True)
class EventSpec:
    type: str
    model: builtins.type[Contract]
    topic: str


SOCIAL_INTAKE = TopicSpec(
    "sinergi.intake.social",
    "Household registrations from the Dinsos case system; keyed by KK number",
    partitions=6, retention_ms=7 * DAY_MS,
    writers=("dinsos-case-system",), readers=("social",), intake=True,
)
SOCIAL_HOUSEHOLD = TopicSpec(
    "sinergi.social.household",
    "Household registered and assessed, pseudonymous",
    partitions=6, retention_ms=-1, writers=("social",), readers=("timeline",),
)
SOCIAL_HOUSING = TopicSpec(
    "sinergi.social.housing",
    "Housing flags: location and needs for Public Works",
    partitions=6, retention_ms=-1, writers=("social",), readers=("public_works", "timeline"),
)
PUBLIC_WORKS_TICKET = TopicSpec(
    "sinergi.public_works.ticket",
    "Works tickets and their lifecycle",
    partitions=6, retention_ms=-1, writers=("public_works",), readers=("social", "timeline"),
)
DEAD_LETTER = TopicSpec(
    "sinergi.deadletter",
    "Messages no consumer could process, with the reason and origin in headers",
    partitions=3, retention_ms=30 * DAY_MS, writers=("*",), readers=("operators",),
)

INTAKE_DEAD_LETTER = TopicSpec(
    "sinergi.intake.deadletter",
    "Refused intake records; they may hold identity numbers, so Dinsos alone reads them",
    partitions=3, retention_ms=30 * DAY_MS, writers=("social",), readers=("social",),
    intake=True,
)

TOPICS: dict[str, TopicSpec] = {
    t.name: t
    for t in (
        SOCIAL_INTAKE, SOCIAL_HOUSEHOLD, SOCIAL_HOUSING, PUBLIC_WORKS_TICKET, DEAD_LETTER,
        INTAKE_DEAD_LETTER,
    )
}
DEAD_LETTER_TOPICS = (DEAD_LETTER.name, INTAKE_DEAD_LETTER.name)

EVENTS: dict[str, EventSpec] = {
    e.type: e
    for e in (
        EventSpec("intake.household.v1", HouseholdIntake, SOCIAL_INTAKE.name),
        EventSpec("social.household.registered.v1", HouseholdRegistered, SOCIAL_HOUSEHOLD.name),
        EventSpec("social.housing.assessed.v1", HousingAssessed, SOCIAL_HOUSEHOLD.name),
        EventSpec("social.housing.flagged.v1", HousingFlagged, SOCIAL_HOUSING.name),
        EventSpec(
            "public_works.ticket.opened.v1", WorksTicketOpened, PUBLIC_WORKS_TICKET.name
        ),
    )
}


def spec_for(model: type[Contract]) -> EventSpec:
    """The event type under which a data model is published."""
    for spec in EVENTS.values():
        if spec.model is model:
            return spec
    raise KeyError(f"{model.__name__} is not in the event catalogue")


def shared_topics() -> list[TopicSpec]:
    """Topics that more than the social service may read: never an identity number on them."""
    return [t for t in TOPICS.values() if not t.intake]


def agency_topics() -> list[TopicSpec]:
    """Shared topics carrying agencies' events (everything but dead letters)."""
    return [t for t in shared_topics() if t.name not in DEAD_LETTER_TOPICS]


def dead_letter_topic(source_topic: str) -> str:
    """Where a refused record of ``source_topic`` goes; intake records stay with Dinsos."""
    spec = TOPICS.get(source_topic)
    return INTAKE_DEAD_LETTER.name if spec is not None and spec.intake else DEAD_LETTER.name
