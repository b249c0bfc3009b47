"""The timeline service, wired from its dependencies."""

from pathlib import Path

from contracts.catalogue import agency_topics
from services.runtime.consumer import Subscription
from services.runtime.service import ServiceDefinition
from services.timeline.handlers import record_entry
from services.timeline.tables import TABLES

AGENCY_TOPICS = tuple(t.name for t in agency_topics())


def build() -> ServiceDefinition:
    return ServiceDefinition(
        name="timeline",
        tables=TABLES,
        migrations=Path(__file__).parent / "migrations",
        subscriptions=[Subscription("timeline.projection", AGENCY_TOPICS, record_entry)],
        relay_process=False,  # a projection: it emits nothing
    )
