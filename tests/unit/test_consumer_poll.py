"""A consumer's poll waits for records up to its limit and polls again at once after a
wait in vain: no sleep during which an arriving record would wait."""

from typing import Any

import pytest
from aiokafka import ConsumerRecord, TopicPartition
from faststream.kafka import KafkaBroker

from services.runtime.service import wait_for_records

pytestmark = pytest.mark.unit


class PollingConsumer:
    """Answers each ``getmany`` with the next of ``answers`` and notes what it was asked."""

    def __init__(self, *answers: dict[TopicPartition, list[Any]]) -> None:
        self.answers = list(answers)
        self.asked: list[dict[str, Any]] = []

    async def getmany(self, **kwargs: Any) -> dict[TopicPartition, list[Any]]:
        self.asked.append(kwargs)
        return self.answers.pop(0)


def record(topic: str, partition: int, offset: int) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(topic, partition, offset, 0, 0, b"k", b"v", None, 1, 1, [])


def subscriber_polling(wait_ms: int, max_records: int) -> Any:
    subscriber = KafkaBroker("localhost:9092").subscriber(
        "t", group_id="g", batch=True, max_records=max_records, batch_timeout_ms=wait_ms)
    wait_for_records(subscriber)
    return subscriber


async def test_an_empty_poll_returns_at_once_without_sleeping(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def no_sleep(*_: Any) -> None:
        raise AssertionError("the poll slept after an empty answer")

    monkeypatch.setattr("anyio.sleep", no_sleep)
    monkeypatch.setattr("asyncio.sleep", no_sleep)
    consumer = PollingConsumer({})
    assert await subscriber_polling(1000, 500).get_msg(consumer) == ()
    assert consumer.asked == [{"timeout_ms": 1000, "max_records": 500}]


async def test_a_poll_returns_the_records_of_every_partition_in_one_batch() -> None:
    a0, a1 = record("t", 0, 7), record("t", 0, 8)
    b0 = record("t", 1, 3)
    consumer = PollingConsumer({TopicPartition("t", 0): [a0, a1], TopicPartition("t", 1): [b0]})
    assert await subscriber_polling(1000, 500).get_msg(consumer) == (a0, a1, b0)
