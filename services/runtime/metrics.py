"""A service's Prometheus metrics: what its consumers handled, retried and dead-lettered,
how long records took, their lag, and the outbox backlog.

Counters move on the hot path: a batch's records add to each (event type, outcome) once,
through label children kept after their first lookup (``labels`` was ~6 % of Public
Works' busy time when called per record). Lag and backlog are read only
when scraped: lag from each consumer's own processed position against the highwater mark
its last fetch reported (no broker request), backlog with one count on the outbox's
partial index of unsent rows.
"""

import asyncio
import math
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# Records take milliseconds when healthy; retries during an outage take seconds to minutes.
BACKLOG_SECONDS = 2.0
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class ServiceMetrics:
    """One registry per service runtime, so several runtimes in one process stay apart."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry(auto_describe=True)
        self._handled = Counter(
            "sinergi_messages_handled", "Records a consumer finished, by event type and outcome "
            "(processed, duplicate, dead_lettered)", ["consumer", "event_type", "outcome"],
            registry=self.registry)
        self._retries = Counter(
            "sinergi_transient_failures", "Handler attempts that failed transiently (database "
            "or broker unavailable) and were retried in place", ["consumer", "event_type"],
            registry=self.registry)
        self._dead_letters = Counter(
            "sinergi_dead_letters", "Records sent to a dead-letter topic, by dlq_reason",
            ["consumer", "reason"], registry=self.registry)
        self._latency = Histogram(
            "sinergi_handler_latency_seconds", "Seconds from a record reaching the processor "
            "to its outcome, retries included", ["consumer", "event_type"],
            buckets=LATENCY_BUCKETS, registry=self.registry)
        self._lag = Gauge(
            "sinergi_consumer_lag", "Records on an assigned partition after the last one this "
            "consumer finished (highwater minus position)", ["consumer", "topic", "partition"],
            registry=self.registry)
        self._backlog = Gauge(
            "sinergi_outbox_backlog", "Outbox rows committed but not yet published (NaN when "
            "the database does not answer)", registry=self.registry)
        self._positions: dict[tuple[str, TopicPartition], int] = {}
        self._children: dict[tuple[str, ...], tuple[Any, Any]] = {}

    # -- the record processor's observer ---------------------------------------------------

    def handled(self, consumer: str, event_type: str, outcome: str, seconds: float) -> None:
        self.handled_many(consumer, {(event_type, outcome): 1}, seconds)

    def handled_many(self, consumer: str, counts: Mapping[tuple[str, str], int],
                     seconds: float) -> None:
        for (event_type, outcome), n in counts.items():
            key = (consumer, event_type, outcome)
            children = self._children.get(key)
            if children is None:  # labels are bounded (catalogue types), so is this cache
                children = self._children[key] = (
                    self._handled.labels(consumer, event_type, outcome),
                    self._latency.labels(consumer, event_type))
            handled, latency = children
            handled.inc(n)
            for _ in range(n):
                latency.observe(seconds)

    def retrying(self, consumer: str, event_type: str) -> None:
        self._retries.labels(consumer, event_type).inc()

    def dead_lettered(self, consumer: str, reason: str) -> None:
        self._dead_letters.labels(consumer, reason).inc()

    def finished(self, consumer: str, partition: TopicPartition, next_offset: int) -> None:
        """The consumer is done with every record of ``partition`` before ``next_offset``."""
        self._positions[(consumer, partition)] = next_offset

    # -- read when scraped -------------------------------------------------------------------

    async def refresh(
        self,
        consumers: Mapping[str, AIOKafkaConsumer | None],
        backlog: Callable[[], Awaitable[int]],
    ) -> None:
        self._lag.clear()  # partitions moved to another member drop out
        for name, consumer in consumers.items():
            if consumer is None:
                continue
            for tp in consumer.assignment():
                lag = await self._lag_of(name, consumer, tp)
                if lag is not None:
                    self._lag.labels(name, tp.topic, str(tp.partition)).set(lag)
        try:
            self._backlog.set(await asyncio.wait_for(backlog(), BACKLOG_SECONDS))
        except Exception:  # the database is down: readiness says so, the gauge says unknown
            self._backlog.set(math.nan)

    async def _lag_of(
        self, name: str, consumer: AIOKafkaConsumer, tp: TopicPartition
    ) -> int | None:
        highwater = consumer.highwater(tp)
        if highwater is None:  # nothing fetched from it yet
            return None
        position = self._positions.get((name, tp))
        if position is None:  # assigned but no record finished here yet: where fetching stands
            try:
                position = await asyncio.wait_for(consumer.position(tp), 0.5)
            except Exception:
                return None
        return max(highwater - position, 0)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
