"""A dead letter too large to send with its headers goes without its value, never for ever."""

from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka.errors import MessageSizeTooLargeError

from services.runtime.deadletter import VALUE_OMITTED, Failure, Record, send_dead_letter

pytestmark = pytest.mark.unit

LIMIT = 1_048_576  # aiokafka's max_request_size, the broker's limit
FAILURE = Failure("oversize", "payload over 262144 bytes", datetime(2026, 3, 1, tzinfo=UTC), 1)


class SizeLimitedProducer:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send_and_wait(self, topic: str, value: bytes | None, key: bytes | None,
                            headers: list[tuple[str, bytes]]) -> None:
        size = len(value or b"") + sum(len(k) + len(v) for k, v in headers)
        if size > LIMIT:
            raise MessageSizeTooLargeError()
        self.sent.append(dict(topic=topic, value=value, key=key, headers=dict(headers)))


def record(value_bytes: int) -> Record:
    return Record("sinergi.intake.public_works", 4, 1234, b"ticket-1", b"x" * value_bytes,
                  (("ce_type", b"intake.ticket_update.v1"),))


async def test_a_record_at_the_limit_goes_without_its_value_naming_its_size_and_origin() -> None:
    producer = SizeLimitedProducer()
    await send_dead_letter(producer, record(LIMIT - 200), "public_works.tickets",  # type: ignore[arg-type]
                           FAILURE)
    [letter] = producer.sent
    assert letter["value"] is None and letter["key"] == b"ticket-1"
    assert letter["headers"][VALUE_OMITTED] == str(LIMIT - 200).encode()
    assert (letter["headers"]["dlq_topic"], letter["headers"]["dlq_partition"],
            letter["headers"]["dlq_offset"]) == (b"sinergi.intake.public_works", b"4", b"1234")
    assert letter["topic"] == "sinergi.deadletter"


async def test_a_record_that_fits_keeps_its_value_and_has_no_omission_header() -> None:
    producer = SizeLimitedProducer()
    await send_dead_letter(producer, record(300_000), "public_works.tickets",  # type: ignore[arg-type]
                           FAILURE)
    [letter] = producer.sent
    assert letter["value"] == b"x" * 300_000 and VALUE_OMITTED not in letter["headers"]
