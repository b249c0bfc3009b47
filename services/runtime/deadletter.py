"""Dead letters: the original record, untouched, plus headers saying why and from where."""

from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer

from contracts.catalogue import dead_letter_topic

DLQ_HEADERS = (
    "dlq_reason", "dlq_detail", "dlq_topic", "dlq_partition", "dlq_offset",
    "dlq_consumer_group", "dlq_first_failure", "dlq_attempts",
)


@dataclass(frozen=True)
class Record:
    """The parts of a consumed Kafka record a consumer needs, as received."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]


@dataclass(frozen=True)
class Failure:
    reason: str
    detail: str
    first_failure: datetime
    attempts: int


async def send_dead_letter(
    producer: AIOKafkaProducer, record: Record, consumer_group: str, failure: Failure
) -> None:
    headers = [(k, v) for k, v in record.headers if not k.startswith("dlq_") and v is not None]
    headers += [
        ("dlq_reason", failure.reason.encode()),
        ("dlq_detail", failure.detail[:2000].encode()),
        ("dlq_topic", record.topic.encode()),
        ("dlq_partition", str(record.partition).encode()),
        ("dlq_offset", str(record.offset).encode()),
        ("dlq_consumer_group", consumer_group.encode()),
        ("dlq_first_failure", failure.first_failure.astimezone(UTC).isoformat().encode()),
        ("dlq_attempts", str(failure.attempts).encode()),
    ]
    await producer.send_and_wait(
        dead_letter_topic(record.topic, _declared_type(record)), value=record.value,
        key=record.key, headers=headers,
    )


def _declared_type(record: Record) -> str | None:
    raw = dict(record.headers).get("ce_type")
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else None
