"""The intake API, wired from its dependencies: an outbox and its relay, no subscriptions."""

from pathlib import Path

from services.intake_api.tables import TABLES
from services.runtime.service import ServiceDefinition


def build() -> ServiceDefinition:
    return ServiceDefinition(
        name="intake_api", tables=TABLES, migrations=Path(__file__).parent / "migrations",
        prune_sent_outbox=True,  # its rows hold NIK and KK numbers as posted
        relay_process=False,  # one intake per HTTP request: little to relay
    )
