"""Logging in to Kafka as the service's own principal, on a secured broker.

In a secured deployment each agency service has a SASL/SCRAM-SHA-512 principal whose ACLs
(``contracts/access.py``) let it read only its input topics, write its own topics and the
dead-letter topics of its inputs, and use consumer groups named ``<service>.…``. It may not
create topics: the platform's admin provisions them (``sinergi stack up --secured`` does).
"""

from typing import Any

from aiokafka.helpers import create_ssl_context
from faststream.security import BaseSecurity, SASLScram512

from services.runtime.settings import Settings

MECHANISM = "SCRAM-SHA-512"


def protocol(settings: Settings) -> str:
    """The security protocol: as configured, else SASL_SSL with a login, PLAINTEXT without."""
    if settings.kafka_security_protocol:
        return settings.kafka_security_protocol
    return "SASL_SSL" if settings.kafka_sasl_username else "PLAINTEXT"


def logs_in(settings: Settings) -> bool:
    return protocol(settings) != "PLAINTEXT"


def client_login(settings: Settings) -> dict[str, Any]:
    """aiokafka keyword arguments that log in as the configured principal (none without)."""
    if not logs_in(settings):
        return {}
    assert settings.kafka_sasl_username and settings.kafka_sasl_password  # Settings checks
    login: dict[str, Any] = {
        "security_protocol": protocol(settings),
        "sasl_mechanism": MECHANISM,
        "sasl_plain_username": settings.kafka_sasl_username,
        "sasl_plain_password": settings.kafka_sasl_password.get_secret_value(),
    }
    if protocol(settings) == "SASL_SSL":
        login["ssl_context"] = create_ssl_context(cafile=settings.kafka_ssl_cafile)
    return login


def broker_security(settings: Settings) -> BaseSecurity | None:
    """The same login for FastStream's broker (its subscribers' consumers)."""
    if not logs_in(settings):
        return None
    assert settings.kafka_sasl_username and settings.kafka_sasl_password
    use_ssl = protocol(settings) == "SASL_SSL"
    return SASLScram512(settings.kafka_sasl_username,
                        settings.kafka_sasl_password.get_secret_value(),
                        ssl_context=create_ssl_context(cafile=settings.kafka_ssl_cafile)
                        if use_ssl else None, use_ssl=use_ssl)
