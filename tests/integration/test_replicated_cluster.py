"""A replicated cluster loses no acknowledged record when a partition's leader dies.

Three combined broker+controller KRaft nodes (a 3-voter quorum) of the test's own, in
``<test stack dir>.replicated``; catalogue topics with replication factor 3, min.insync.replicas
2 and unclean leader election off; the services' producer (acks=all, idempotent). Mid-stream
the busy partition's leader is SIGKILLed; everything acknowledged must be read back.
"""

import asyncio
import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.partitioner import murmur2
from aiokafka.structs import RecordMetadata

from contracts.catalogue import SOCIAL_HOUSEHOLD
from services.runtime.kafka import ensure_topics, make_producer
from services.stack import Stack
from tests.support import own_stack, until

pytestmark = pytest.mark.integration

TOPIC = SOCIAL_HOUSEHOLD.name
BUSY = 0
RECORDS = 3000


@pytest.fixture(scope="module")
def cluster() -> Iterator[Stack]:
    yield from own_stack("replicated", timeout=150, brokers=3)


def keys_of_partition(partition: int, partitions: int, count: int = 20) -> list[bytes]:
    """Household refs the default partitioner sends to ``partition`` (as aiokafka's does)."""
    keys: list[bytes] = []
    while len(keys) < count:
        key = f"h-{uuid.uuid4().hex}".encode()
        if (murmur2(key) & 0x7FFFFFFF) % partitions == partition:
            keys.append(key)
    return keys


async def describe(bootstrap: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The busy partition (leader, replicas, isr) and the topic's durability settings."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [topic] = await admin.describe_topics([TOPIC])
        [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, TOPIC)])
    finally:
        await admin.close()
    partition = next((p for p in topic["partitions"] if p["partition"] == BUSY), {})
    configs = {name: value for name, value, *_ in response.resources[0][4]}
    return partition, configs


async def read_partition(bootstrap: str, run: str, at_least: int) -> list[int]:
    """Every sequence number of this run on the busy partition, in offset order.

    Reads up to the partition's end offset once that has reached ``at_least``: a newly
    elected leader may answer with an older high watermark for a moment.
    """
    tp = TopicPartition(TOPIC, BUSY)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        consumer.assign([tp])

        async def end_offset() -> int:
            end = (await consumer.end_offsets([tp]))[tp]
            return end if end >= at_least else 0

        end = await until(end_offset, within=30, what=f"end offset of {tp} >= {at_least}")
        consumer.seek(tp, (await consumer.beginning_offsets([tp]))[tp])
        seqs: list[int] = []
        while await consumer.position(tp) < end:
            for record in (await consumer.getmany(tp, timeout_ms=1000)).get(tp, []):
                body = json.loads(record.value)
                if body["run"] == run:
                    seqs.append(body["seq"])
        return seqs
    finally:
        await consumer.stop()


async def test_every_acknowledged_record_is_consumed_after_its_partition_leader_is_killed(
    cluster: Stack,
) -> None:
    env = cluster.env()
    bootstrap = env["KAFKA_BOOTSTRAP_SERVERS"]
    # What 'sinergi stack env' hands the services of a three-node stack.
    await ensure_topics(bootstrap, replication_factor=int(env["SINERGI_REPLICATION_FACTOR"]))

    async def described_by_every_broker() -> tuple[dict[str, Any], dict[str, str]] | None:
        partition, configs = await describe(bootstrap)  # a broker may not know the topic yet
        return (partition, configs) if configs and len(partition.get("isr", ())) == 3 else None

    before, configs = await until(described_by_every_broker, within=30,
                                  what=f"{TOPIC} described with 3 in-sync replicas")
    assert len(before["replicas"]) == 3, before
    assert configs["min.insync.replicas"] == "2"
    assert configs["unclean.leader.election.enable"] == "false"
    leader = int(before["leader"])
    keys = keys_of_partition(BUSY, SOCIAL_HOUSEHOLD.partitions)
    run, acked_before_kill = uuid.uuid4().hex, 0
    futures: dict[int, asyncio.Future[RecordMetadata]] = {}

    producer = make_producer(bootstrap, "leader-kill-test")
    await producer.start()
    try:
        async def stream() -> None:
            for seq in range(RECORDS):
                value = json.dumps({"seq": seq, "run": run}).encode()
                futures[seq] = await producer.send(TOPIC, value, key=keys[seq % len(keys)])
                await asyncio.sleep(0.002)

        async def a_third_acknowledged() -> bool:
            return _acked(futures) >= RECORDS // 3

        streaming = asyncio.create_task(stream())
        await until(a_third_acknowledged, within=60, what="a third of the stream acknowledged")
        acked_before_kill, killed_at = _acked(futures), time.monotonic()
        await asyncio.to_thread(cluster.stop_broker, leader, True)  # SIGKILL, no clean shutdown
        await streaming
        results = await asyncio.gather(*futures.values(), return_exceptions=True)
        drained_after = time.monotonic() - killed_at
    finally:
        await producer.stop()

    offsets = {seq: r.offset for seq, r in zip(futures, results, strict=True)
               if isinstance(r, RecordMetadata)}
    acknowledged = set(offsets)
    failures = Counter(type(r).__name__ for r in results if isinstance(r, BaseException))
    after, _ = await describe(bootstrap)
    consumed = await read_partition(bootstrap, run, max(offsets.values(), default=-1) + 1)
    lost = acknowledged - set(consumed)
    duplicated = sum(n - 1 for n in Counter(consumed).values() if n > 1)
    print(f"\nleader of {TOPIC}/{BUSY}: node {leader} (SIGKILLed after {acked_before_kill} acks)"
          f" -> node {after['leader']}, isr {after['isr']}; stream done {drained_after:.1f}s after"
          f" the kill\nsent {len(futures)}, acknowledged {len(acknowledged)}, failed "
          f"{sum(failures.values())} {dict(failures)}, consumed {len(consumed)}, acknowledged"
          f" but not consumed {len(lost)}, duplicated {duplicated}")
    assert cluster.broker_pids()[leader] is None
    assert after["leader"] != leader
    assert len(acknowledged) > acked_before_kill, "nothing was acknowledged after the kill"
    assert not lost, f"acknowledged but lost: {sorted(lost)[:20]}"
    assert duplicated == 0


def _acked(futures: dict[int, asyncio.Future[RecordMetadata]]) -> int:
    return sum(f.done() and f.exception() is None for f in list(futures.values()))
