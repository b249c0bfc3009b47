"""Processing one consumed record: validate, dedupe, handle, commit — or dead-letter.

A record is finished only when its effect is committed, it is a known duplicate, or it
sits in the dead-letter topic; only then is its offset committed. Transient failures
(database or broker unavailable) are retried in place with backoff, so a later record of
the same partition is never committed past an unfinished one.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

import structlog
from aiokafka import AIOKafkaProducer
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from contracts.catalogue import EVENTS
from contracts.codec import Event, decode
from contracts.errors import ContractViolation
from services.runtime.deadletter import Failure, Record, send_dead_letter
from services.runtime.unit_of_work import UnitOfWork

log = structlog.get_logger()

Handler = Callable[[Event, UnitOfWork], Awaitable[None]]


class Rejected(Exception):
    """A domain rule refuses this event for good (e.g. a ticket update for an unknown ticket).

    The record goes to the dead-letter topic with ``reason``; the partition moves on.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class Outcome(StrEnum):
    PROCESSED = "processed"
    DUPLICATE = "duplicate"
    DEAD_LETTERED = "dead_lettered"


@dataclass(frozen=True)
class Subscription:
    """One consumer group: the topics it reads and the handler for their events."""

    name: str
    topics: tuple[str, ...]
    handler: Handler


class Observer(Protocol):
    """What the processor reports as it goes (metrics); called on the hot path, so cheap."""

    def handled(self, consumer: str, event_type: str, outcome: str, seconds: float) -> None: ...
    def retrying(self, consumer: str, event_type: str) -> None: ...
    def dead_lettered(self, consumer: str, reason: str) -> None: ...


class _Unobserved:
    def handled(self, consumer: str, event_type: str, outcome: str, seconds: float) -> None:
        pass

    def retrying(self, consumer: str, event_type: str) -> None:
        pass

    def dead_lettered(self, consumer: str, reason: str) -> None:
        pass


def declared_type(record: Record) -> str:
    """The record's ``ce_type`` if the catalogue knows it, else ``unknown``.

    Metric labels take only catalogue types: a publisher sending made-up types must not
    grow the number of time series without bound.
    """
    for name, value in record.headers:
        if name == "ce_type" and value is not None:
            declared = value.decode("utf-8", "replace")
            return declared if declared in EVENTS else "unknown"
    return "unknown"


# Connection exceptions (08), serialization failure and deadlock, too many connections, and
# the server shutting down or starting up (57P01-03): asyncpg raises these while PostgreSQL
# restarts, and SQLAlchemy wraps them in a plain DBAPIError that is not marked invalidated.
_TRANSIENT_SQLSTATES = ("08", "40001", "40P01", "53300", "57P01", "57P02", "57P03")


def is_transient(exc: BaseException) -> bool:
    """Failures that go away by themselves: retry, never dead-letter."""
    if isinstance(exc, DBAPIError):
        sqlstate = getattr(exc.orig, "sqlstate", None) or ""
        if exc.connection_invalidated or sqlstate.startswith(_TRANSIENT_SQLSTATES):
            return True
    return isinstance(exc, OperationalError | InterfaceError | OSError | TimeoutError)


class RecordProcessor:
    def __init__(
        self,
        uow_factory: Callable[[], UnitOfWork],
        producer: AIOKafkaProducer,
        *,
        max_backoff: float = 5.0,
        observer: Observer | None = None,
    ) -> None:
        self._uow_factory = uow_factory
        self._producer = producer
        self._max_backoff = max_backoff
        self._observer: Observer = observer or _Unobserved()

    async def process(self, sub: Subscription, record: Record) -> Outcome:
        structlog.contextvars.bind_contextvars(
            consumer=sub.name, topic=record.topic, partition=record.partition,
            offset=record.offset,
        )
        started = time.perf_counter()
        try:
            try:
                event = decode(record.topic, record.headers, record.value)
            except ContractViolation as violation:
                failure = Failure(violation.reason.value, violation.detail, datetime.now(UTC), 1)
                outcome = await self._dead_letter(sub, record, failure)
                self._observer.handled(sub.name, declared_type(record), outcome,
                                       time.perf_counter() - started)
                return outcome
            env = event.envelope
            structlog.contextvars.bind_contextvars(
                event_id=str(env.id), event_type=env.type, correlation_id=env.correlationid
            )
            outcome = await self._handle_with_retry(sub, record, event)
            self._observer.handled(sub.name, env.type, outcome, time.perf_counter() - started)
            return outcome
        finally:
            structlog.contextvars.unbind_contextvars(
                "consumer", "topic", "partition", "offset", "event_id", "event_type",
                "correlation_id",
            )

    async def _handle_with_retry(self, sub: Subscription, record: Record, event: Event) -> Outcome:
        first_failure: datetime | None = None
        attempts = 0
        backoff = 0.1
        while True:
            attempts += 1
            try:
                return await self._handle_once(sub, event)
            except Rejected as rejected:
                failure = Failure(rejected.reason, rejected.detail, datetime.now(UTC), attempts)
                return await self._dead_letter(sub, record, failure)
            except Exception as exc:
                first_failure = first_failure or datetime.now(UTC)
                if not is_transient(exc):
                    log.error("handler_failed", error=repr(exc), attempts=attempts)
                    failure = Failure("handler_error", repr(exc), first_failure, attempts)
                    return await self._dead_letter(sub, record, failure)
                log.warning("transient_failure_retrying", error=repr(exc), attempts=attempts,
                            retry_in=backoff)
                self._observer.retrying(sub.name, event.envelope.type)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)

    async def _handle_once(self, sub: Subscription, event: Event) -> Outcome:
        async with self._uow_factory() as uow:
            if not await uow.claim(sub.name, event.envelope.id):
                log.info("duplicate_dropped")
                return Outcome.DUPLICATE
            await sub.handler(event, uow)
            await uow.commit()
        log.info("event_handled", emitted=len(uow.emitted))
        return Outcome.PROCESSED

    async def _dead_letter(self, sub: Subscription, record: Record, failure: Failure) -> Outcome:
        backoff = 0.1
        while True:
            try:
                await send_dead_letter(self._producer, record, sub.name, failure)
                log.warning("dead_lettered", reason=failure.reason, detail=failure.detail)
                self._observer.dead_lettered(sub.name, failure.reason)
                return Outcome.DEAD_LETTERED
            except Exception as exc:  # the broker is down: the record must not be lost
                log.warning("dead_letter_retrying", error=repr(exc), retry_in=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)
