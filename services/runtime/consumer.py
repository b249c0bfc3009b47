"""Processing consumed records: validate, dedupe, handle, commit — or dead-letter.

A record is finished only when its effect is committed, it is a known duplicate, or it
sits in the dead-letter topic; only then is its offset committed. Transient failures
(database or broker unavailable) are retried in place with backoff, so a later record of
the same partition is never committed past an unfinished one.

A batch of records is handled in one transaction: one inbox statement claims every event
id, the handlers run in record order, one commit. Per-message transactions cost a round
trip and a WAL flush each, which is most of a service's time. If any handler in the batch
refuses its event or fails for good, the transaction is rolled back and the batch is
handled again one record at a time, so only that record is dead-lettered. A large batch
is split by key into lanes, each its own transaction, handled concurrently (``lanes.py``).
"""

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import TopicAuthorizationFailedError

from contracts.codec import Event, decode
from contracts.errors import ContractViolation
from services.runtime.deadletter import Failure, Record, send_dead_letter
from services.runtime.failures import is_transient
from services.runtime.lanes import MIN_LANE_RECORDS, split_by_key
from services.runtime.logging import EventLogContext
from services.runtime.observer import Observer, Unobserved, declared_type
from services.runtime.relay import Committed
from services.runtime.unit_of_work import AlreadyHandled, UnitOfWork

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


Prepare = Callable[[Sequence[Event], UnitOfWork], Awaitable[None]]


@dataclass(frozen=True)
class Subscription:
    """One consumer group: the topics it reads and the handler for their events.

    ``prepare``, if given, runs once per batch before the handlers, with the batch's new
    events: it can read what they all need in a few statements and leave it in
    ``uow.memo`` for the handlers.
    """

    name: str
    topics: tuple[str, ...]
    handler: Handler
    prepare: Prepare | None = None


class RecordProcessor:
    def __init__(
        self,
        uow_factory: Callable[[], UnitOfWork],
        producer: AIOKafkaProducer,
        *,
        max_backoff: float = 5.0,
        observer: Observer | None = None,
        on_commit: Callable[[Sequence[Committed]], None] | None = None,
        lanes: int = 1,
        lane_min_records: int = MIN_LANE_RECORDS,
    ) -> None:
        self._lanes = lanes
        self._lane_min_records = lane_min_records
        self._uow_factory = uow_factory
        self._producer = producer
        self._max_backoff = max_backoff
        self._observer: Observer = observer or Unobserved()
        self.on_commit = on_commit or (lambda outgoing: None)
        """Given each commit's outbox rows: the relay's, in this process or another."""

    async def process(self, sub: Subscription, record: Record) -> Outcome:
        return (await self.process_batch(sub, [record]))[0]

    async def process_batch(self, sub: Subscription, records: Sequence[Record]) -> list[Outcome]:
        """Finish every record (in order per partition); returns each record's outcome."""
        started = time.perf_counter()
        outcomes: list[Outcome] = [Outcome.DUPLICATE] * len(records)
        valid: list[tuple[int, Record, Event]] = []
        with structlog.contextvars.bound_contextvars(consumer=sub.name):
            for i, record in enumerate(records):
                try:
                    valid.append((i, record, decode(record.topic, record.headers, record.value)))
                except ContractViolation as violation:
                    failure = Failure(violation.reason.value, violation.detail,
                                      datetime.now(UTC), 1)
                    outcomes[i] = await self._dead_letter(sub, record, failure)
                    self._observer.handled(sub.name, declared_type(record), outcomes[i],
                                           time.perf_counter() - started)
            lanes = split_by_key(valid, lambda v: v[1].key, self._lanes,
                                 self._lane_min_records)
            if len(lanes) == 1:
                handled = [await self._handle_lane(sub, lanes[0])]
            else:
                handled = await asyncio.gather(*(self._handle_lane(sub, lane) for lane in lanes))
            seconds = time.perf_counter() - started
            counts: Counter[tuple[str, str]] = Counter()
            for lane, lane_outcomes in zip(lanes, handled, strict=True):
                for (i, _, event), outcome in zip(lane, lane_outcomes, strict=True):
                    outcomes[i] = outcome
                    counts[(event.envelope.type, outcome)] += 1
            self._observer.handled_many(sub.name, counts, seconds)
            if len(records) > 1:
                log.info("batch_handled", records=len(records),
                         **{o.value: outcomes.count(o) for o in Outcome if o in outcomes},
                         ms=round(seconds * 1000, 1))
        return outcomes

    async def _handle_lane(self, sub: Subscription,
                           lane: list[tuple[int, Record, Event]]) -> list[Outcome]:
        if len(lane) == 1:
            _, record, event = lane[0]
            return [await self._handle_with_retry(sub, record, event)]
        return await self._handle_batch_with_retry(sub, lane) if lane else []

    async def _handle_batch_with_retry(
        self, sub: Subscription, valid: list[tuple[int, Record, Event]]
    ) -> list[Outcome]:
        backoff = 0.1
        while True:
            try:
                return await self._handle_together(sub, [event for _, _, event in valid])
            except Exception as exc:
                if isinstance(exc, Rejected) or not is_transient(exc):
                    log.info("batch_split_one_by_one", records=len(valid), error=repr(exc))
                    return [await self._handle_with_retry(sub, record, event)
                            for _, record, event in valid]
                log.warning("transient_failure_retrying", error=repr(exc), records=len(valid),
                            retry_in=backoff)
                for _, _, event in valid:
                    self._observer.retrying(sub.name, event.envelope.type)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)

    async def _handle_together(self, sub: Subscription, events: list[Event]) -> list[Outcome]:
        if len({e.envelope.id for e in events}) == len(events):
            try:
                return await self._handle_claiming_at_commit(sub, events)
            except AlreadyHandled as redelivered:  # nothing was committed
                log.info("batch_redelivered", records=len(events), detail=str(redelivered))
        return await self._handle_claiming_first(sub, events)

    async def _handle_claiming_at_commit(self, sub: Subscription,
                                         events: list[Event]) -> list[Outcome]:
        # A batch is almost never a redelivery: its inbox rows are written with its effects,
        # one round trip less than claiming them first. If one was handled before, the
        # whole transaction is rolled back and the batch handled again, claiming first.
        async with self._uow_factory() as uow:
            uow.claim_at_commit(sub.name, [e.envelope.id for e in events])
            if sub.prepare is not None:
                await sub.prepare(events, uow)
            for event in events:
                with _event_context(event):
                    await sub.handler(event, uow)
            await uow.commit()
        if uow.outgoing:
            self.on_commit(uow.outgoing)
        return [Outcome.PROCESSED] * len(events)

    async def _handle_claiming_first(self, sub: Subscription,
                                     events: list[Event]) -> list[Outcome]:
        outcomes = []
        async with self._uow_factory() as uow:
            fresh = await uow.claim_many(sub.name, [e.envelope.id for e in events])
            if sub.prepare is not None and fresh:
                await sub.prepare([e for e in events if e.envelope.id in fresh], uow)
            for event in events:
                env = event.envelope
                with _event_context(event):
                    if env.id not in fresh:  # seen before, or twice in this batch
                        log.info("duplicate_dropped")
                        outcomes.append(Outcome.DUPLICATE)
                        continue
                    fresh.discard(env.id)
                    await sub.handler(event, uow)
                    outcomes.append(Outcome.PROCESSED)
            await uow.commit()
        if uow.outgoing:
            self.on_commit(uow.outgoing)
        return outcomes

    async def _handle_with_retry(self, sub: Subscription, record: Record, event: Event) -> Outcome:
        first_failure: datetime | None = None
        attempts = 0
        backoff = 0.1
        with _record_context(record), _event_context(event):
            while True:
                attempts += 1
                try:
                    return await self._handle_once(sub, event)
                except Rejected as rejected:
                    failure = Failure(rejected.reason, rejected.detail, datetime.now(UTC),
                                      attempts)
                    return await self._dead_letter(sub, record, failure)
                except Exception as exc:
                    first_failure = first_failure or datetime.now(UTC)
                    if not is_transient(exc):
                        log.error("handler_failed", error=repr(exc), attempts=attempts)
                        failure = Failure("handler_error", repr(exc), first_failure, attempts)
                        return await self._dead_letter(sub, record, failure)
                    log.warning("transient_failure_retrying", error=repr(exc),
                                attempts=attempts, retry_in=backoff)
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
        log.debug("event_handled", emitted=len(uow.emitted))
        if uow.outgoing:
            self.on_commit(uow.outgoing)
        return Outcome.PROCESSED

    async def _dead_letter(self, sub: Subscription, record: Record, failure: Failure) -> Outcome:
        backoff = 0.1
        with _record_context(record):
            while True:
                try:
                    await send_dead_letter(self._producer, record, sub.name, failure)
                    log.warning("dead_lettered", reason=failure.reason, detail=failure.detail)
                    self._observer.dead_lettered(sub.name, failure.reason)
                    return Outcome.DEAD_LETTERED
                except Exception as exc:  # the broker is down: the record must not be lost
                    # Refused for good (its ACLs, say), the partition waits for an operator:
                    # said at error level, as nothing else moves until it is fixed.
                    level = log.error if isinstance(exc, TopicAuthorizationFailedError) \
                        else log.warning
                    level("dead_letter_retrying", error=repr(exc), retry_in=backoff)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, self._max_backoff)


def _record_context(record: Record) -> AbstractContextManager[object]:
    return structlog.contextvars.bound_contextvars(
        topic=record.topic, partition=record.partition, offset=record.offset)


def _event_context(event: Event) -> EventLogContext:
    return EventLogContext(event.envelope)
