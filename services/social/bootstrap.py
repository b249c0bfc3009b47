"""The social service, wired from its dependencies."""

from functools import partial
from pathlib import Path

from contracts.catalogue import SOCIAL_INTAKE
from services.runtime.consumer import Subscription
from services.runtime.service import ServiceDefinition
from services.social.handlers import register_household
from services.social.tables import TABLES


def build(pseudonym_key: bytes) -> ServiceDefinition:
    return ServiceDefinition(
        name="social",
        tables=TABLES,
        migrations=Path(__file__).parent / "migrations",
        subscriptions=[
            Subscription(
                "social.intake", (SOCIAL_INTAKE.name,),
                partial(register_household, pseudonym_key=pseudonym_key),
            ),
        ],
    )
