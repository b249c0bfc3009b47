"""Every service of Sinergi, wired from settings: what the demo and the tests run."""

from services.education.bootstrap import build as build_education
from services.public_works.bootstrap import build as build_public_works
from services.runtime.service import ServiceDefinition
from services.runtime.settings import Settings
from services.social.bootstrap import build as build_social
from services.social.pseudonym import parse_keys
from services.timeline.bootstrap import build as build_timeline

SERVICES = ("social", "public_works", "education", "timeline")


def all_definitions(settings: Settings) -> dict[str, ServiceDefinition]:
    key = settings.pseudonym_key.get_secret_value().encode()
    return {
        "social": build_social(
            key, poverty_line=settings.poverty_line,
            previous_keys=parse_keys(settings.pseudonym_previous_keys.get_secret_value()),
        ),
        "public_works": build_public_works(),
        "education": build_education(),
        "timeline": build_timeline(),
    }
