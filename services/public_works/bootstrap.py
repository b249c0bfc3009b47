"""The Public Works service, wired from its dependencies."""

from functools import partial
from pathlib import Path

from contracts.catalogue import SOCIAL_HOUSING
from contracts.events.social import HousingNeed
from services.public_works.handlers import open_tickets
from services.public_works.rules import DEFAULT_DUE_DAYS
from services.public_works.tables import TABLES
from services.runtime.consumer import Subscription
from services.runtime.service import ServiceDefinition


def build(due_days: dict[HousingNeed, int] | None = None) -> ServiceDefinition:
    return ServiceDefinition(
        name="public_works",
        tables=TABLES,
        migrations=Path(__file__).parent / "migrations",
        subscriptions=[
            Subscription(
                "public_works.housing_flags", (SOCIAL_HOUSING.name,),
                partial(open_tickets, due_days=due_days or DEFAULT_DUE_DAYS),
            ),
        ],
    )
