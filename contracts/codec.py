"""Turning an event into a Kafka record and back, with specific reasons for refusal."""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import ValidationError

from contracts.base import Contract
from contracts.catalogue import EVENTS, spec_for
from contracts.envelope import Envelope, EnvelopeError
from contracts.errors import ContractViolation, Reason, describe

MAX_PAYLOAD_BYTES = 256 * 1024

D = TypeVar("D", bound=Contract)


@dataclass(frozen=True)
class Event(Generic[D]):
    envelope: Envelope
    data: D


def encode(envelope: Envelope, data: Contract) -> tuple[list[tuple[str, bytes]], bytes]:
    """Headers and payload of a record; the envelope's type must match the data's model."""
    return envelope.to_headers(), encode_data(envelope, data)


def encode_data(envelope: Envelope, data: Contract) -> bytes:
    """The payload of a record; the envelope's type must match the data's model."""
    spec = spec_for(type(data))
    if spec.type != envelope.type:
        raise ValueError(f"envelope type {envelope.type} does not match data {spec.type}")
    return payload_of(data)


def payload_of(data: Contract) -> bytes:
    """The data as a record's payload: JSON."""
    return data.__pydantic_serializer__.to_json(data)  # model_dump_json's bytes, not re-encoded


def decode(
    topic: str, headers: Iterable[tuple[str, bytes | str | None]], value: bytes | None
) -> Event:
    """Validate a record against the catalogue, or raise ContractViolation saying why."""
    if value is not None and len(value) > MAX_PAYLOAD_BYTES:
        raise ContractViolation(
            Reason.OVERSIZE, f"payload is {len(value)} bytes, limit {MAX_PAYLOAD_BYTES}"
        )
    try:
        envelope = Envelope.from_headers(headers)
    except EnvelopeError as exc:
        raise ContractViolation(Reason.INVALID_ENVELOPE, str(exc)) from exc
    spec = EVENTS.get(envelope.type)
    if spec is None:
        raise ContractViolation(Reason.UNKNOWN_TYPE, f"no contract for type {envelope.type}")
    if spec.topic != topic:
        raise ContractViolation(
            Reason.WRONG_TOPIC, f"{envelope.type} belongs on {spec.topic}, not {topic}"
        )
    if not value:
        raise ContractViolation(Reason.MALFORMED_JSON, "payload is empty")
    try:
        data = spec.model.model_validate_json(value)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            raise ContractViolation(Reason.MALFORMED_JSON, describe(exc)) from exc
        raise ContractViolation(Reason.SCHEMA_VIOLATION, describe(exc)) from exc
    return Event(envelope, data)
