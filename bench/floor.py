"""The guarantees' floor: the bare loop at Dinsos's fan-out, plus the database work the
design's guarantees ask of any service, and nothing else.

Each batch fetched: one transaction writes an inbox row for each record consumed and the
outbox rows of its answers (one statement each, arrays in, ids back); the answers are
produced and awaited; the outbox rows are marked sent (one statement, a HOT update as in
the services' outbox); offsets are committed. No validation, no pseudonyms, no domain
state, one process. What it reaches is what Dinsos could reach if all of its own work were
free: its inbox and outbox on this PostgreSQL, its fan-out on this broker.
"""

import json
import uuid
from collections.abc import Sequence

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from bench.baselines import (
    BATCH,
    Output,
    Rate,
    _topics,
    asyncpg_dsn,
    drain,
    send_answers,
    sink_topics,
)
from bench.cpu import CpuSplit
from bench.workload import IntakeRecord, send_all
from services.runtime.kafka import make_producer

_SCHEMA = """
CREATE SCHEMA IF NOT EXISTS bench_floor;
CREATE TABLE bench_floor.inbox_{tag} (
    event_id uuid PRIMARY KEY, processed_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE bench_floor.outbox_{tag} (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, event_id uuid NOT NULL UNIQUE,
    topic text NOT NULL, key text NOT NULL, headers jsonb NOT NULL, payload bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(), sent_at timestamptz
) WITH (fillfactor = 50);
"""
_INBOX = ("INSERT INTO bench_floor.inbox_{tag} (event_id) "
          "SELECT * FROM unnest($1::uuid[])")
_OUTBOX = ("INSERT INTO bench_floor.outbox_{tag} (event_id, topic, key, headers, payload) "
           "SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::jsonb[], $5::bytea[]) "
           "RETURNING id")
_MARK = "UPDATE bench_floor.outbox_{tag} SET sent_at = now() WHERE id = ANY($1::bigint[])"


async def outbox_loop(bootstrap: str, database_url: str, records: list[IntakeRecord], tag: str,
                      outputs: Sequence[Sequence[Output]], split: CpuSplit | None = None
                      ) -> Rate:
    """Records consumed per second through inbox + outbox + produce + mark + commit."""
    source, sink = f"bench.floor.{tag}.in", f"bench.floor.{tag}.out"
    sql = {name: text.format(tag=tag) for name, text in
           (("inbox", _INBOX), ("outbox", _OUTBOX), ("mark", _MARK))}
    # The answers' columns as the services' outbox holds them, made once: the loop's own
    # Python should be the statements', not this conversion's.
    sinks = sink_topics(sink, outputs)
    shaped = [[(sinks[topic], key.decode(), json.dumps([[k, v.decode()] for k, v in headers]),
                value) for topic, key, value, headers in answer] for answer in outputs]
    topics = [source, *sinks.values()]
    await _topics(bootstrap, topics, create=True, replication=1)
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    await conn.execute(_SCHEMA.format(tag=tag))
    producer = make_producer(bootstrap, f"bench-floor-{tag}")
    await producer.start()
    consumer = AIOKafkaConsumer(source, bootstrap_servers=bootstrap,
                                group_id=f"bench.floor.{tag}", enable_auto_commit=False,
                                auto_offset_reset="earliest", max_poll_records=BATCH)
    async def handle(tp: TopicPartition, batch: list[ConsumerRecord], done: int) -> int:
        rows = [row for n in range(done, done + len(batch)) for row in shaped[n % len(shaped)]]
        async with conn.transaction():
            # A fresh id a record: the baseline's records repeat (BASELINE_DISTINCT).
            await conn.execute(sql["inbox"], [uuid.uuid4() for _ in batch])
            ids = [r[0] for r in await conn.fetch(
                sql["outbox"], [uuid.uuid4() for _ in rows], *zip(*rows, strict=True))]
        produced = await send_answers(producer, sinks, outputs, done, len(batch))
        await conn.execute(sql["mark"], ids)
        await consumer.commit({tp: batch[-1].offset + 1})
        return produced

    try:
        await send_all(producer, records, source)
        await consumer.start()
        return await drain(consumer, len(records), handle, split)
    finally:
        await consumer.stop()
        await producer.stop()
        await conn.execute("DROP SCHEMA IF EXISTS bench_floor CASCADE")
        await conn.close()
        await _topics(bootstrap, topics, create=False, replication=1)
