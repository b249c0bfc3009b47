"""structlog, set up once per process: JSON when not on a terminal, console otherwise.

Per-message context (event id, correlation id, type) is bound by the consumer for each
event it handles, so every log line a handler writes carries it.
"""

import logging
import sys
from contextvars import ContextVar, Token
from typing import Any

import structlog
from structlog.types import EventDict

from contracts.envelope import Envelope
from contracts.identity import redact

_HANDLING: ContextVar[Envelope | None] = ContextVar("sinergi_handling", default=None)


class EventLogContext:
    """Within it, log lines carry ``envelope``'s id, type and correlation id.

    One context variable holds the envelope, and the fields are rendered only when a line
    is written: binding three structlog context variables per event cost more than the
    timeline spends handling it, and most events write no line.
    """

    __slots__ = ("_envelope", "_token")

    def __init__(self, envelope: Envelope) -> None:
        self._envelope = envelope
        self._token: Token[Envelope | None] | None = None

    def __enter__(self) -> None:
        self._token = _HANDLING.set(self._envelope)

    def __exit__(self, *exc: object) -> None:
        assert self._token is not None
        _HANDLING.reset(self._token)


def add_event_context(logger: Any, method: str, event_dict: EventDict) -> EventDict:
    envelope = _HANDLING.get()
    if envelope is not None:
        event_dict.setdefault("event_id", str(envelope.id))
        event_dict.setdefault("event_type", envelope.type)
        # An agency's own case id: a case system keyed by KK number could send that.
        event_dict.setdefault("correlation_id", redact(envelope.correlationid))
    return event_dict


def configure_logging(service: str, level: str = "INFO") -> None:
    processors: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        add_event_context,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
    ]
    renderer: structlog.types.Processor = (
        structlog.dev.ConsoleRenderer() if sys.stderr.isatty()
        else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[*processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service)
    # Library loggers (aiokafka, faststream, uvicorn) go through the standard library.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s %(message)s")
