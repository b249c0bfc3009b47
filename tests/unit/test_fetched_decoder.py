"""A subscriber's decoded batch hands the adapter its records and consumer without making
the message refer to itself: its records are freed with it, not by the cycle collector."""

import gc
import weakref
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from faststream.kafka.message import KafkaMessage

from services.runtime.service import Fetched, decode_fetched

pytestmark = pytest.mark.unit


def batch_message(consumer: Any) -> KafkaMessage:
    records = tuple(ConsumerRecord("t", 0, offset, 0, 0, b"k", b"v", None, 1, 1, [])
                    for offset in range(3))
    message = KafkaMessage(records, b"", consumer=consumer)
    message.set_decoder(decode_fetched)
    return message


async def test_the_decoded_batch_is_the_messages_records_and_consumer() -> None:
    consumer = object()
    message = batch_message(consumer)

    fetched = await message.decode()

    assert fetched == Fetched(message.raw_message, consumer)


async def test_a_decoded_message_is_freed_as_soon_as_nothing_refers_to_it() -> None:
    message = batch_message(object())
    await message.decode()  # FastStream keeps the decoded body on the message
    gone = weakref.ref(message)
    gc.disable()  # only reference counting may free it
    try:
        del message
        assert gone() is None, "the message is in a reference cycle: only gc frees it"
    finally:
        gc.enable()
