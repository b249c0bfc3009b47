"""Dead letters: the original record, untouched, plus headers saying why and from where."""

from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError

from contracts.catalogue import dead_letter_topic

DLQ_HEADERS = (
    "dlq_reason", "dlq_detail", "dlq_topic", "dlq_partition", "dlq_offset",
    "dlq_consumer_group", "dlq_first_failure", "dlq_attempts",
)
VALUE_OMITTED = "dlq_value_omitted"
"""Only on a record too large to send again with the dead-letter headers: its value's size."""

log = structlog.get_logger()


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
    topic = dead_letter_topic(record.topic, _declared_type(record))
    try:
        await producer.send_and_wait(topic, value=record.value, key=record.key, headers=headers)
    except MessageSizeTooLargeError:
        # Within a few hundred bytes of the broker's limit, the record fits its own topic
        # but not with these headers. Retried, it never would: the letter goes without its
        # value, which stays at dlq_topic/dlq_partition/dlq_offset for that topic's
        # retention, rather than stopping the partition for good.
        size = len(record.value or b"")
        log.error("dead_letter_value_omitted", bytes=size)
        await producer.send_and_wait(topic, value=None, key=record.key,
                                     headers=[*headers, (VALUE_OMITTED, str(size).encode())])


def _declared_type(record: Record) -> str | None:
    raw = dict(record.headers).get("ce_type")
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else None
