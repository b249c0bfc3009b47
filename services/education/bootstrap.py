"""The Education service, wired from its dependencies."""

from pathlib import Path

from contracts.catalogue import EDUCATION_INTAKE, SOCIAL_EDUCATION
from services.education.handlers import enrol_batch, enrol_children, record_attendance
from services.education.tables import TABLES
from services.runtime.consumer import Subscription
from services.runtime.service import ServiceDefinition


def build() -> ServiceDefinition:
    return ServiceDefinition(
        name="education",
        tables=TABLES,
        migrations=Path(__file__).parent / "migrations",
        subscriptions=[
            Subscription("education.referrals", (SOCIAL_EDUCATION.name,), enrol_children,
                         prepare=enrol_batch),
            Subscription("education.attendance", (EDUCATION_INTAKE.name,), record_attendance),
        ],
    )
