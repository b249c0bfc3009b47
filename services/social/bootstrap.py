"""The social service, wired from its dependencies."""

from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path

from contracts.base import Contract
from contracts.catalogue import EDUCATION_PUPIL, PUBLIC_WORKS_TICKET, SOCIAL_INTAKE
from contracts.codec import Event
from contracts.events.education import DropoutRisk, PupilReengaged
from contracts.events.intake import (
    GrantAward,
    HouseholdIntake,
    IncomeReport,
    MentoringVisit,
    RejectionAcknowledgement,
)
from contracts.events.public_works import (
    WorksTicketCompleted,
    WorksTicketOpened,
    WorksTicketRejected,
)
from services.runtime.consumer import Handler, Subscription
from services.runtime.service import ServiceDefinition
from services.runtime.settings import Settings
from services.runtime.unit_of_work import UnitOfWork
from services.social.handlers import register_household
from services.social.handlers_agencies import (
    close_dropout_risk,
    open_follow_up,
    record_ticket_rejection,
    resolve_completed_need,
    track_ticket,
)
from services.social.handlers_intake import (
    acknowledge_rejection,
    award_grant,
    record_income,
    record_mentoring_visit,
)
from services.social.prefetch import lock_households, prepare_intake
from services.social.pseudonym import Keys
from services.social.tables import TABLES

DEFAULT_POVERTY_LINE: int = Settings.model_fields["poverty_line"].default


def by_data_type(routes: Mapping[type[Contract], Handler]) -> Handler:
    """One handler per subscription, choosing by the event's data type.

    Types without a route (a ticket scheduled, a pupil enrolled) do not concern Dinsos's
    case: they are consumed and have no effect.
    """
    async def route(event: Event, uow: UnitOfWork) -> None:
        handler = routes.get(type(event.data))
        if handler is not None:
            await handler(event, uow)

    return route


def agency_subscription(name: str, topic: str,
                        routes: Mapping[type[Contract], Handler]) -> Subscription:
    """Another agency's topic: the households of the routed events are locked per batch."""
    return Subscription(name, (topic,), by_data_type(routes),
                        prepare=partial(lock_households, concerning=tuple(routes)))


def build(pseudonym_key: bytes, poverty_line: int = DEFAULT_POVERTY_LINE,
          previous_keys: Sequence[bytes] = ()) -> ServiceDefinition:
    """``previous_keys``: retired pseudonym keys whose refs must still resolve."""
    key, line = Keys(pseudonym_key, tuple(previous_keys)), poverty_line
    return ServiceDefinition(
        name="social",
        tables=TABLES,
        migrations=Path(__file__).parent / "migrations",
        subscriptions=[
            Subscription("social.intake", (SOCIAL_INTAKE.name,), by_data_type({
                HouseholdIntake: partial(register_household, pseudonym_keys=key, poverty_line=line),
                IncomeReport: partial(record_income, pseudonym_keys=key, poverty_line=line),
                GrantAward: partial(award_grant, pseudonym_keys=key),
                MentoringVisit: partial(record_mentoring_visit, pseudonym_keys=key),
                RejectionAcknowledgement: partial(
                    acknowledge_rejection, pseudonym_keys=key, poverty_line=line),
            }), prepare=partial(prepare_intake, pseudonym_keys=key)),
            agency_subscription("social.tickets", PUBLIC_WORKS_TICKET.name, {
                WorksTicketOpened: track_ticket,
                WorksTicketCompleted: partial(resolve_completed_need, poverty_line=line),
                WorksTicketRejected: record_ticket_rejection,
            }),
            agency_subscription("social.pupils", EDUCATION_PUPIL.name, {
                DropoutRisk: open_follow_up,
                PupilReengaged: partial(close_dropout_risk, poverty_line=line),
            }),
        ],
    )
