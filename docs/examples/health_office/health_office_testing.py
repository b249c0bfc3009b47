"""Helpers of the example's tests: publishing as a Sinergi service does, awaiting outcomes."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import GroupCoordinatorNotAvailableError
from aiokafka.structs import RecordMetadata

from contracts.base import Contract
from contracts.catalogue import spec_for
from contracts.codec import encode
from contracts.envelope import Envelope, new_envelope


async def publish(producer: AIOKafkaProducer, data: Contract, source: str,
                  envelope: Envelope | None = None) -> tuple[Envelope, RecordMetadata]:
    """Publish ``data`` the way Sinergi does: ce_* headers, key = household ref."""
    spec = spec_for(type(data))
    ref: str = data.household_ref  # type: ignore[attr-defined]
    envelope = envelope or new_envelope(type=spec.type, source=source, subject=ref,
                                        correlationid=ref, causationid=None)
    headers, payload = encode(envelope, data)
    meta = await producer.send_and_wait(spec.topic, value=payload, key=ref.encode(),
                                        headers=headers)
    return envelope, meta


async def until(check: Callable[[], Awaitable[Any]], what: str, within: float = 180.0) -> Any:
    """Await a state the consumer reaches asynchronously; fail naming ``what``."""
    deadline = time.monotonic() + within
    while not (result := await check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.1)
    return result


async def committed_past(servers: str, group: str, meta: RecordMetadata) -> bool:
    """Whether ``group`` has committed an offset beyond the record at ``meta``."""
    tp = TopicPartition(meta.topic, meta.partition)
    admin = AIOKafkaAdminClient(bootstrap_servers=servers)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group, partitions=[tp])
    except GroupCoordinatorNotAvailableError:
        return False  # a fresh broker creates its offsets topic on the first group's demand
    finally:
        await admin.close()
    committed = offsets.get(tp)
    return committed is not None and committed.offset > meta.offset
