"""Sinergi events in, planned home visits out.

A record is finished when its effect is committed in our database, it is a known
duplicate, it is of a type we do not use, or it is in Sinergi's dead-letter topic; only
then is its offset committed. A database or broker outage is retried in place, so the
consumer never moves past an unfinished record.
"""

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from aiokafka.errors import (
    CommitFailedError,
    IllegalStateError,
    KafkaError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
)
from aiokafka.helpers import create_ssl_context
from asyncpg.exceptions import InterfaceError
from asyncpg.exceptions._base import DataError as ClientDataError

from contracts.catalogue import dead_letter_topic, spec_for
from contracts.codec import Event, decode
from contracts.errors import ContractViolation
from contracts.events.education import DropoutRisk
from contracts.events.social import HousingFlagged
from contracts.regions import local_date
from health_office import store
from health_office.rules import visit_for

log = logging.getLogger("health_office")
T = TypeVar("T")

USED = [spec_for(model) for model in (HousingFlagged, DropoutRisk)]
USED_TYPES = {spec.type for spec in USED}
TOPICS = sorted({spec.topic for spec in USED})
# The database's state, not the record's: connection lost (08), serialization failure and
# deadlock, too many connections, disk full or out of memory (53), a statement cancelled and
# the server shutting down or starting up (57...). Dead-lettered, every record would be
# refused while it lasts.
TRANSIENT_SQLSTATES = ("08", "40001", "40P01", "53", "57014", "57P01", "57P02", "57P03")


def is_transient(exc: BaseException) -> bool:
    """An outage or a shortage that goes away by itself: retry in place."""
    if isinstance(exc, asyncpg.PostgresError):
        return str(getattr(exc, "sqlstate", "") or "").startswith(TRANSIENT_SQLSTATES)
    if isinstance(exc, KafkaError):  # not e.g. a record too large or a denied topic
        return exc.retriable or isinstance(exc, KafkaTimeoutError)
    if isinstance(exc, InterfaceError):  # not a value asyncpg cannot send: a bug, for good
        return not isinstance(exc, ClientDataError)
    return isinstance(exc, OSError | TimeoutError)


class Stopped(Exception):
    """Asked to stop while waiting out an outage: the record stays unfinished."""


@dataclass(frozen=True)
class Config:
    bootstrap_servers: str
    database_url: str
    group_id: str = "health_office.visits"
    sasl_username: str | None = None
    sasl_password: str | None = None
    security_protocol: str = "SASL_SSL"

    @classmethod
    def from_env(cls) -> "Config":
        return cls(os.environ["KAFKA_BOOTSTRAP_SERVERS"],
                   os.environ["HEALTH_OFFICE_DATABASE_URL"],
                   os.environ.get("HEALTH_OFFICE_GROUP_ID", cls.group_id),
                   os.environ.get("KAFKA_SASL_USERNAME"), os.environ.get("KAFKA_SASL_PASSWORD"),
                   os.environ.get("KAFKA_SECURITY_PROTOCOL", cls.security_protocol))

    def kafka_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"bootstrap_servers": self.bootstrap_servers,
                                   "client_id": self.group_id}
        if self.sasl_username:  # a secured deployment: our own principal (SCRAM)
            options |= {"security_protocol": self.security_protocol,
                        "sasl_mechanism": "SCRAM-SHA-512",
                        "sasl_plain_username": self.sasl_username,
                        "sasl_plain_password": self.sasl_password}
            if self.security_protocol == "SASL_SSL":
                options["ssl_context"] = create_ssl_context()
        return options

    @property
    def dsn(self) -> str:
        return self.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def run(config: Config, stop: asyncio.Event) -> None:
    """Consume until ``stop`` is set."""
    try:
        pool = await persistently(
            lambda: asyncpg.create_pool(config.dsn, min_size=1, max_size=2),
            "connecting to the database", stop)
    except Stopped:
        return
    consumer = AIOKafkaConsumer(*TOPICS, group_id=config.group_id, enable_auto_commit=False,
                                auto_offset_reset="earliest", **config.kafka_options())
    producer = AIOKafkaProducer(acks="all", enable_idempotence=True, **config.kafka_options())
    try:
        async with pool.acquire() as conn:
            await store.create_schema(conn)
        await consumer.start()
        await producer.start()
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=500)
            for tp, records in batch.items():
                for record in records:
                    try:
                        outcome = await process(record, pool, producer, config.group_id, stop)
                    except Stopped:
                        return  # its offset is not committed: the next run reads it again
                    log.info("%s %s/%s/%s", outcome, tp.topic, tp.partition, record.offset)
                    try:
                        await consumer.commit({tp: record.offset + 1})
                    except (CommitFailedError, IllegalStateError) as exc:
                        # A rebalance gave the partition to another instance; it re-reads
                        # the record and our handled_events table drops the copy.
                        log.warning("offset not committed: %r", exc)
    finally:
        await consumer.stop()
        await producer.stop()
        await pool.close()


async def process(record: ConsumerRecord, pool: asyncpg.Pool, producer: AIOKafkaProducer,
                  group: str, stop: asyncio.Event | None = None) -> str:
    ce_type = dict(record.headers).get("ce_type") or b""
    if ce_type.decode("utf-8", "replace") not in USED_TYPES:
        return "ignored"  # other types on our topics, and versions we do not use
    try:
        event = decode(record.topic, record.headers, record.value)
    except ContractViolation as violation:
        return await dead_letter(producer, record, group, violation.reason.value,
                                 violation.detail, stop)
    try:
        return await persistently(lambda: handle(pool, event), "handling an event", stop)
    except Stopped:
        raise
    except Exception as exc:  # a bug or a value our database refuses: park it, move on
        log.exception("handler failed")
        return await dead_letter(producer, record, group, "handler_error", repr(exc), stop)


async def handle(pool: asyncpg.Pool, event: Event) -> str:
    envelope = event.envelope
    visit = visit_for(event.data, local_date(envelope.time))  # the day in Kaltim (WITA)
    async with pool.acquire() as conn, conn.transaction():
        if not await store.claim(conn, envelope.id, envelope.type):
            return "duplicate"
        if visit is not None:
            await store.plan_visit(conn, visit, envelope.id, envelope.correlationid)
    return "visit_planned" if visit else "no_visit_needed"


async def dead_letter(producer: AIOKafkaProducer, record: ConsumerRecord, group: str,
                      reason: str, detail: str, stop: asyncio.Event | None = None) -> str:
    """The record unchanged on Sinergi's dead-letter topic, with the dlq_* headers."""
    headers = [(k, v) for k, v in record.headers if v is not None and not k.startswith("dlq_")]
    headers += [(k, str(v).encode()) for k, v in {
        "dlq_reason": reason, "dlq_detail": detail[:2000], "dlq_topic": record.topic,
        "dlq_partition": record.partition, "dlq_offset": record.offset,
        "dlq_consumer_group": group, "dlq_first_failure": datetime.now(UTC).isoformat(),
        "dlq_attempts": 1,
    }.items()]
    topic = dead_letter_topic(record.topic)
    try:
        await persistently(lambda: producer.send_and_wait(
            topic, value=record.value, key=record.key, headers=headers),
            "sending a dead letter", stop)
    except MessageSizeTooLargeError:
        # Within a few hundred bytes of the broker's limit, the headers made it too large:
        # the letter goes without its value (the original stays on its topic), as
        # Sinergi's own services send it.
        omitted = [*headers, ("dlq_value_omitted", str(len(record.value or b"")).encode())]
        await persistently(lambda: producer.send_and_wait(
            topic, value=None, key=record.key, headers=omitted),
            "sending a dead letter", stop)
    log.warning("dead-lettered %s: %s", reason, detail)
    return "dead_lettered"


async def persistently(action: Callable[[], Awaitable[T]], what: str,
                       stop: asyncio.Event | None = None) -> T:
    """Retry ``action`` while the failure is an outage (``is_transient``); anything else
    is raised, and ``Stopped`` once ``stop`` is set."""
    backoff = 0.2
    while True:
        try:
            return await action()
        except Exception as exc:
            if not is_transient(exc):
                raise
            log.warning("%s failed (%r); retrying in %.1fs", what, exc, backoff)
        try:
            await asyncio.wait_for((stop or asyncio.Event()).wait(), backoff)
            raise Stopped(what)
        except TimeoutError:
            backoff = min(backoff * 2, 10.0)
