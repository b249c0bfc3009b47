"""Publishing agency-system records and reading topics back, as outside systems would."""

import asyncio
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from contracts.base import Contract
from contracts.catalogue import spec_for
from contracts.codec import encode
from contracts.envelope import Envelope, new_envelope


async def publish_record(
    producer: AIOKafkaProducer, data: Contract, *, key: str, source: str, subject: str,
    wait: bool = True,
) -> Envelope:
    """Publish one record with its envelope to the topic the catalogue assigns its type."""
    spec = spec_for(type(data))
    envelope = new_envelope(type=spec.type, source=source, subject=subject,
                            correlationid=subject, causationid=None)
    headers, payload = encode(envelope, data)
    future = await producer.send(spec.topic, value=payload, key=key.encode(), headers=headers)
    if wait:
        await future
    return envelope


async def partitions_of(bootstrap_servers: str, topics: list[str]) -> list[TopicPartition]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    return [TopicPartition(t["topic"], p["partition"]) for t in described
            for p in t["partitions"]]


async def read_topics(bootstrap_servers: str, topics: list[str], within: float = 60) -> list[Any]:
    """Every record currently on ``topics``, from the beginning to the end offsets."""
    partitions = await partitions_of(bootstrap_servers, topics)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        for tp in partitions:
            consumer.seek(tp, 0)
        records: list[Any] = []
        remaining = {tp for tp in partitions if ends[tp] > 0}
        deadline = time.monotonic() + within
        while remaining:
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read {topics} to their end offsets")
            batch = await consumer.getmany(timeout_ms=500)
            for tp, recs in batch.items():
                records.extend(r for r in recs if r.offset < ends[tp])
                if recs and recs[-1].offset + 1 >= ends[tp]:
                    remaining.discard(tp)
            await asyncio.sleep(0)
        return records
    finally:
        await consumer.stop()
