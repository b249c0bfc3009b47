"""What the broker and the database allow on their own, with the pipeline's record sizes.

- bare loop: consume a pre-filled topic and produce each record to another topic, with
  the services' producer settings (acks=all, idempotent, linger 5 ms); batches from
  ``getmany`` (up to 500), all sends of a batch awaited together, offsets committed per
  batch. No validation, no database. The issue's targets are ratios to this loop.
- bare loop at Dinsos's fan-out: the same, but each record consumed is answered with the
  records Dinsos emitted for one household in its alone phase (its outbox rows, read back:
  the same count, keys, headers and payloads, about 4.4 a record, each to a bench topic
  standing for the one it went to). No validation, no database: what the broker allows for
  Dinsos's shape of work. ``bench.floor`` adds the inbox and outbox rows.
- bare loop, per record: the same, but each record is produced, awaited and committed
  before the next is handled (the shape of the services' current processing).
- asyncpg: rows the size of an outbox row (the intake's payload and headers) inserted
  with ``executemany`` and with COPY, one transaction per 500 rows; and one row per
  transaction (the cost of a transaction per message).
"""

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench.cpu import CpuSplit, per_unit_us
from bench.workload import IntakeRecord, send_all
from services.runtime.kafka import make_producer

BATCH = 500


Output = tuple[str, bytes, bytes, list[tuple[str, bytes]]]
"""A record to produce: the topic it went to, key, value, headers."""


def sink_topics(prefix: str, outputs: Sequence[Sequence[Output]]) -> dict[str, str]:
    """A bench topic for each topic the outputs went to (as many partitions as ``_topics``
    gives, the catalogue's default), so the broker sees the same spread of a record's
    answers over topics and partitions as Dinsos's relay gives it."""
    return {topic: f"{prefix}.{topic}" for topic in sorted({o[0] for rs in outputs for o in rs})}


@dataclass(frozen=True)
class Rate:
    count: int
    seconds: float
    produced: int | None = None
    cpu_seconds: dict[str, float | None] | None = None
    """CPU seconds by part over the timed window (``CpuSplit.stop``), when measured."""

    @property
    def per_second(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"count": self.count, "seconds": round(self.seconds, 3),
                "per_second": round(self.per_second, 1),
                **({} if self.produced is None else {"produced": self.produced}),
                **({} if self.cpu_seconds is None else {
                    "cpu_us_per_record": per_unit_us(self.cpu_seconds, self.count),
                    "machine_busy_cores": round((self.cpu_seconds["machine"] or 0.0)
                                                / self.seconds, 2) if self.seconds > 0 else None})}


async def _topics(bootstrap: str, names: list[str], create: bool, replication: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        if create:
            await admin.create_topics([NewTopic(n, 6, replication) for n in names])
            for _ in range(300):  # producing before partitions have leaders only earns retries
                described = await admin.describe_topics(names)
                if all(t["error_code"] == 0 and t["partitions"]
                       and all(p["leader"] >= 0 for p in t["partitions"]) for t in described):
                    break
                await asyncio.sleep(0.1)
        else:
            await admin.delete_topics(names)
    finally:
        await admin.close()


async def bare_loop(bootstrap: str, records: list[IntakeRecord], tag: str,
                    per_record: bool = False, replication: int = 1,
                    outputs: Sequence[Sequence[Output]] = (), split: CpuSplit | None = None
                    ) -> Rate:
    """Messages per second through consume → produce, timed from the first record fetched.

    With ``outputs``, the n-th record consumed is answered with ``outputs[n % len]``
    instead of itself (batches only). With ``split``, the CPU each part used over the same
    window."""
    source, sink = f"bench.loop.{tag}.in", f"bench.loop.{tag}.out"
    sinks = sink_topics(sink, outputs)
    topics = [source, sink, *sinks.values()]
    await _topics(bootstrap, topics, create=True, replication=replication)
    producer = make_producer(bootstrap, f"bench-loop-{tag}")
    await producer.start()
    consumer = AIOKafkaConsumer(source, bootstrap_servers=bootstrap, group_id=f"bench.loop.{tag}",
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                max_poll_records=BATCH)

    async def handle(tp: TopicPartition, batch: list[ConsumerRecord], done: int) -> int:
        if per_record:
            for r in batch:
                await producer.send_and_wait(sink, r.value, r.key, headers=list(r.headers))
                await consumer.commit({tp: r.offset + 1})
            return len(batch)
        if outputs:
            produced = await send_answers(producer, sinks, outputs, done, len(batch))
        else:
            futures = [await producer.send(sink, r.value, r.key, headers=list(r.headers))
                       for r in batch]
            for f in futures:
                await f
            produced = len(batch)
        await consumer.commit({tp: batch[-1].offset + 1})
        return produced

    try:
        await send_all(producer, records, source)
        await consumer.start()
        return await drain(consumer, len(records), handle, split)
    finally:
        await consumer.stop()
        await producer.stop()
        await _topics(bootstrap, topics, create=False, replication=replication)


Handle = Callable[[TopicPartition, list[ConsumerRecord], int], Awaitable[int]]
"""A loop's work on one partition's batch, given how many records came before it; returns
how many records it produced."""


async def drain(consumer: AIOKafkaConsumer, total: int, handle: Handle,
                split: CpuSplit | None = None) -> Rate:
    """Fetch batches (up to ``BATCH``) until ``total`` records are consumed, each handled by
    ``handle``; timed, and the CPU split taken, from the first record fetched."""
    done, produced, began = 0, 0, 0.0
    while done < total:
        batches = await consumer.getmany(timeout_ms=1000, max_records=BATCH)
        if batches and not began:
            began = time.perf_counter()
            if split is not None:
                split.start()
        for tp, batch in batches.items():
            produced += await handle(tp, batch, done)
            done += len(batch)
    seconds = time.perf_counter() - began
    return Rate(done, seconds, produced, None if split is None else split.stop())


async def send_answers(producer: AIOKafkaProducer, sinks: dict[str, str],
                       outputs: Sequence[Sequence[Output]], first: int, count: int) -> int:
    """Produce the answers of records ``first`` to ``first + count`` (the n-th record's are
    ``outputs[n % len]``, each to its topic's bench topic), await them; how many."""
    futures = [await producer.send(sinks[topic], value, key, headers=headers)
               for n in range(first, first + count)
               for topic, key, value, headers in outputs[n % len(outputs)]]
    for f in futures:
        await f
    return len(futures)


async def emitted_per_household(database_url: str, schema: str, rows: int) -> list[list[Output]]:
    """The last ``rows`` records ``schema``'s outbox holds, as the relay sends them, grouped
    by key (one household's records together, in the order they were written)."""
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        found = await conn.fetch(
            f"SELECT topic, key, headers::text AS headers, payload FROM {schema}.outbox "
            "ORDER BY id DESC LIMIT $1", rows)
    finally:
        await conn.close()
    groups: dict[str, list[Output]] = {}
    for r in reversed(found):
        groups.setdefault(r["key"], []).append(
            (r["topic"], r["key"].encode(), bytes(r["payload"]),
             [(k, v.encode()) for k, v in json.loads(r["headers"])]))
    return list(groups.values())


def asyncpg_dsn(sqlalchemy_url: str) -> str:
    return sqlalchemy_url.replace("postgresql+asyncpg://", "postgresql://", 1)


TABLE = """CREATE TABLE bench.rows_{tag} (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, event_id uuid NOT NULL UNIQUE,
    topic text NOT NULL, key text NOT NULL, headers jsonb NOT NULL, payload bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now())"""
COLUMNS = ("event_id", "topic", "key", "headers", "payload")


async def db_inserts(database_url: str, records: list[IntakeRecord], tag: str,
                     single_cap: int = 500) -> dict[str, Rate]:
    """Rows per second for executemany, COPY (both per 500 rows) and one row per transaction."""
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await conn.execute("CREATE SCHEMA IF NOT EXISTS bench")
        results = {}
        for method in ("executemany", "copy", "row_per_tx"):
            table = f"rows_{tag}_{method}"
            await conn.execute(TABLE.format(tag=f"{tag}_{method}"))
            rows = [(uuid.uuid4(), "sinergi.intake.social", r.key.decode(),
                     json.dumps([[k, v.decode()] for k, v in r.headers]), r.value)
                    for r in (records[:single_cap] if method == "row_per_tx" else records)]
            began = time.perf_counter()
            if method == "row_per_tx":
                insert = f"INSERT INTO bench.{table} ({', '.join(COLUMNS)}) VALUES ($1,$2,$3,$4,$5)"
                for row in rows:
                    async with conn.transaction():
                        await conn.execute(insert, *row)
            for start in range(0, len(rows), BATCH) if method != "row_per_tx" else ():
                chunk = rows[start:start + BATCH]
                async with conn.transaction():
                    if method == "copy":
                        await conn.copy_records_to_table(table, records=chunk, columns=COLUMNS,
                                                         schema_name="bench")
                    else:
                        await conn.executemany(
                            f"INSERT INTO bench.{table} ({', '.join(COLUMNS)}) "
                            "VALUES ($1,$2,$3,$4,$5)", chunk)
            results[method] = Rate(len(rows), time.perf_counter() - began)
        return results
    finally:
        await conn.execute("DROP SCHEMA IF EXISTS bench CASCADE")
        await conn.close()
