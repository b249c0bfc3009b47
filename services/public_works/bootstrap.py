"""The Public Works service, wired from its dependencies."""

from collections.abc import Mapping
from functools import partial
from pathlib import Path

from contracts.catalogue import PUBLIC_WORKS_INTAKE, SOCIAL_HOUSING
from contracts.events.social import HousingNeed
from services.public_works.handlers import open_tickets, update_ticket
from services.public_works.rules import due_days_with
from services.public_works.tables import TABLES
from services.runtime.consumer import Subscription
from services.runtime.service import ServiceDefinition


def build(due_days: Mapping[HousingNeed, int] | None = None) -> ServiceDefinition:
    """``due_days`` overrides the default days allowed for the kinds of work it names."""
    return ServiceDefinition(
        name="public_works",
        tables=TABLES,
        migrations=Path(__file__).parent / "migrations",
        subscriptions=[
            Subscription(
                "public_works.housing_flags", (SOCIAL_HOUSING.name,),
                partial(open_tickets, due_days=due_days_with(due_days)),
            ),
            Subscription("public_works.field_updates", (PUBLIC_WORKS_INTAKE.name,),
                         update_ticket),
        ],
    )
