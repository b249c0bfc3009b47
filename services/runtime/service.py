"""Running a service: migrations, topics, the broker's subscribers and the outbox relay.

FastStream subscribers here are thin adapters: they take a batch of raw records (up to
SINERGI_BATCH_SIZE, whatever the fetch has ready), hand it to the RecordProcessor and
commit the batch's offsets once the processor has finished with every record of it.
"""

import asyncio
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any, NamedTuple

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from faststream import AckPolicy
from faststream.kafka.subscriber.usecase import LogicSubscriber
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts.access import ACCESS
from services.runtime.consumer import RecordProcessor, Subscription
from services.runtime.db import migrate
from services.runtime.deadletter import Record
from services.runtime.kafka import (
    GRACEFUL_STOP_SECONDS,
    ensure_topics,
    make_broker,
    make_producer,
)
from services.runtime.kafka_login import broker_security, client_login
from services.runtime.metrics import ServiceMetrics
from services.runtime.offsets import OffsetCommits
from services.runtime.pipeline import BatchPipeline
from services.runtime.relay import Committed, OutboxRelay
from services.runtime.settings import Settings
from services.runtime.tables import ServiceTables
from services.runtime.unit_of_work import UnitOfWork

log = structlog.get_logger()


@dataclass
class ServiceDefinition:
    name: str
    tables: ServiceTables
    migrations: Path
    subscriptions: list[Subscription] = field(default_factory=list)
    prune_sent_outbox: bool = False
    """Delete outbox rows SINERGI_SENT_OUTBOX_KEEP_HOURS after they were sent (for an
    outbox that holds identity numbers)."""
    relay_process: bool = True
    """May run its relay in a process of its own (SINERGI_RELAY_PROCESS); False for a
    service that emits little, where a second process costs more than it frees."""

    def keep_sent_seconds(self, settings: Settings) -> float | None:
        """How long the relay keeps sent rows (None: for good)."""
        return settings.sent_outbox_keep_hours * 3600 if self.prune_sent_outbox else None


async def _tolerant_parser(records: tuple[Any, ...], original: Any) -> Any:
    # FastStream decodes every header of every record as UTF-8 before our code runs (one
    # bad header would make it skip the batch) and copies each into a dict we never read.
    # It parses a sanitised copy of the first record only, for the batch's metadata; the
    # adapter reads the original records, and the RecordProcessor validates each.
    first = records[0]
    safe = dataclasses.replace(first, headers=tuple(
        (k, (v or b"").decode("utf-8", "replace").encode()) for k, v in first.headers))
    message = await original((safe,))
    message.raw_message = records
    return message


class Fetched(NamedTuple):
    """What a subscriber's adapter is handed: the batch's records and their consumer."""

    records: tuple[ConsumerRecord[bytes, bytes], ...]
    consumer: AIOKafkaConsumer


async def decode_fetched(message: Any) -> Fetched:
    """The subscribers' decoder: a batch's message as its records and their consumer."""
    # FastStream keeps the decoded body on the message. Were it the message itself (the
    # obvious way to hand the adapter the consumer), each message would refer to itself,
    # and its batch of records would stay alive until the cycle collector ran: at the
    # threshold ``collector.tune_gc`` sets, a million objects at a time, collections of
    # 1-2 s that stalled the timeline's consumer (bench/README, findings). This tuple
    # refers only to what the message refers to.
    return Fetched(message.raw_message, message.consumer)


def wait_for_records(subscriber: Any) -> None:
    """Make a batch ``subscriber``'s poll wait up to its ``batch_timeout_ms`` for up to its
    ``max_records`` records, returning as soon as any arrive, and poll again at once after a
    wait in vain.

    FastStream's batch poll sleeps ``batch_timeout_ms`` after every empty poll. That kept
    the poll short (10 ms), and each of a service's consumers woke some fifty times a second
    while idle: about 8 % of a core per idle service, on a machine the offered load of the
    latency target already keeps busy. A record arriving during that sleep waited for it.
    """
    wait_ms, max_records = subscriber.batch_timeout_ms, subscriber.max_records

    async def get_msg(consumer: AIOKafkaConsumer) -> tuple[ConsumerRecord[bytes, bytes], ...]:
        batches = await consumer.getmany(timeout_ms=wait_ms, max_records=max_records)
        return tuple(chain.from_iterable(batches.values()))

    # An instance attribute: FastStream's consume loop calls ``self.get_msg(consumer)``.
    subscriber.get_msg = get_msg


class ServiceRuntime:
    def __init__(
        self, definition: ServiceDefinition, settings: Settings, engine: AsyncEngine
    ) -> None:
        self.definition = definition
        self.settings = settings
        self.engine = engine
        self._login = client_login(settings)
        self.producer = make_producer(settings.kafka_bootstrap_servers, definition.name,
                                      self._login)
        self.broker = make_broker(settings.kafka_bootstrap_servers, definition.name,
                                  broker_security(settings))
        self.metrics = ServiceMetrics(definition.name)
        self.relay = OutboxRelay(
            engine, definition.tables, self.producer, poll_seconds=settings.relay_poll_seconds,
            batch_size=settings.relay_batch_size,
            keep_sent_seconds=definition.keep_sent_seconds(settings),
        )
        self.processor = RecordProcessor(self.uow, self.producer, observer=self.metrics,
                                         on_commit=self.relay.committed,
                                         lanes=settings.batch_lanes)
        self.offsets = OffsetCommits(settings.offset_commit_ms / 1000)
        self._stop = asyncio.Event()
        self._relay_task: asyncio.Task[None] | None = None
        self.started = False
        self.subscribers: dict[str, LogicSubscriber[Any]] = {}
        self.pipelines: dict[str, BatchPipeline] = {}
        for sub in definition.subscriptions:
            self._subscribe(sub)

    def topics(self) -> frozenset[str] | None:
        """The topics this service may use on a secured broker (None: not in the access
        table, so any)."""
        access = ACCESS.get(self.definition.name)
        return None if access is None else access.reads | access.writes

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.engine, self.definition.tables, f"sinergi/{self.definition.name}")

    def _subscribe(self, sub: Subscription) -> None:
        processor, metrics, offsets = self.processor, self.metrics, self.offsets
        subscriber = self.broker.subscriber(
            *sub.topics, group_id=sub.name, ack_policy=AckPolicy.MANUAL,
            auto_offset_reset="earliest", parser=_tolerant_parser, decoder=decode_fetched,
            batch=True, max_records=self.settings.batch_size,
            batch_timeout_ms=self.settings.batch_wait_ms,
        )
        wait_for_records(subscriber)
        self.subscribers[sub.name] = subscriber

        pipeline = self.pipelines[sub.name] = BatchPipeline(overlap=self.settings.batch_pipeline)

        @subscriber
        async def adapter(fetched: Fetched) -> None:
            raws, consumer = fetched
            records = [Record(raw.topic, raw.partition, raw.offset, raw.key, raw.value,
                              tuple(raw.headers)) for raw in raws]
            positions = {TopicPartition(raw.topic, raw.partition): raw.offset + 1 for raw in raws}

            async def handle() -> None:
                await processor.process_batch(sub, records)

            async def finish() -> None:
                for partition, position in positions.items():
                    metrics.finished(sub.name, partition, position)
                await offsets.commit(consumer, positions)

            await pipeline.submit(frozenset(r.key for r in records), len(records), handle,
                                  finish)

    async def start(self, *, relay: bool = True, migrate_schema: bool = True) -> None:
        if migrate_schema:
            await migrate(self.engine, self.definition.migrations, self.definition.tables.schema)
        await ensure_topics(self.settings.kafka_bootstrap_servers,
                            self.settings.replication_factor, login=self._login,
                            names=self.topics() if self._login else None)
        await self.producer.start()
        self.offsets.resume()
        await self.broker.start()
        if relay:
            self.start_relay()
        self.started = True
        log.info("service_started", subscriptions=[s.name for s in self.definition.subscriptions])

    def relay_through(self, sink: Callable[[Sequence[Committed]], None]) -> None:
        """Hand each commit's outbox rows to ``sink`` (a relay in another process) instead of
        this process's relay, which then is not to be started."""
        self.processor.on_commit = sink

    def start_relay(self) -> None:
        self._stop.clear()
        self._relay_task = asyncio.create_task(self.relay.run(self._stop))

    async def stop(self) -> None:
        self.started = False
        self._stop.set()
        await asyncio.gather(*(pipeline.drain(GRACEFUL_STOP_SECONDS)
                               for pipeline in self.pipelines.values()))
        if self._relay_task is not None:
            await self._relay_task
            # As the relay's own process logs relay_process_stopped.
            log.info("relay_stopped", sent_from_memory=self.relay.from_memory,
                     read_back=self.relay.read_back)
        await self.offsets.finish()
        await self.broker.stop()
        await self.producer.stop()
        log.info("service_stopped")
