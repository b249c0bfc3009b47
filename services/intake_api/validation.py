"""Checking a posted intake record against the contracts: pure functions, no I/O.

The same strict models and size limit as the Kafka intake, so a record accepted here is
one the agency's service will decode; refusals carry the contracts' reason codes and one
entry per failing field.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import ValidationError

from contracts.base import Contract
from contracts.catalogue import EVENTS, TOPICS, EventSpec, Kind
from contracts.codec import MAX_PAYLOAD_BYTES
from contracts.envelope import Envelope
from contracts.errors import Reason

# The data field holding each intake topic's key, by the key the catalogue names.
KEY_FIELDS = {"KK number": "kk_number", "ticket id": "ticket_id", "person ref": "person_ref"}
ATTRIBUTES = ("id", "source", "subject", "correlationid", "time")


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


@dataclass(frozen=True)
class Refusal:
    reason: Reason
    errors: tuple[FieldError, ...]


@dataclass(frozen=True)
class Accepted:
    envelope: Envelope
    data: Contract
    topic: str
    key: str


def intake_types() -> dict[str, EventSpec]:
    """The event types agency systems may post: those of intake topics."""
    return {t: s for t, s in EVENTS.items() if TOPICS[s.topic].kind is Kind.INTAKE}


def key_of(spec: EventSpec, data: Contract) -> str:
    """The record's Kafka key, as the catalogue names it for the type's topic."""
    return str(getattr(data, KEY_FIELDS[TOPICS[spec.topic].key]))


def field_errors(exc: ValidationError, prefix: str = "") -> tuple[FieldError, ...]:
    return tuple(
        FieldError(prefix + (".".join(str(p) for p in e["loc"]) or "(root)"), e["msg"])
        for e in exc.errors()
    )


def _refuse(reason: Reason, field: str, message: str) -> Refusal:
    return Refusal(reason, (FieldError(field, message),))


def _envelope(
    spec: EventSpec, attributes: Mapping[str, str | None], event_id: UUID, now: datetime
) -> Envelope | Refusal:
    given = {a: v for a in ATTRIBUTES if (v := attributes.get(a))}
    values: dict[str, Any] = {
        "id": str(event_id), "time": now.isoformat(),
        "source": TOPICS[spec.topic].writers[0], **given, "type": spec.type,
    }
    if "subject" not in values:
        return _refuse(Reason.INVALID_ENVELOPE, "subject",
                       "required: the header ce-subject or the query parameter subject "
                       "(the case, ticket or report number in your system)")
    values.setdefault("correlationid", values["subject"])
    try:
        return Envelope.model_validate_json(json.dumps(values))
    except ValidationError as exc:
        return Refusal(Reason.INVALID_ENVELOPE, field_errors(exc))


def validate(
    event_type: str,
    body: bytes,
    attributes: Mapping[str, str | None],
    *,
    event_id: UUID,
    now: datetime,
) -> Accepted | Refusal:
    """Accept ``body`` (the event's data as JSON) as an ``event_type`` record, or say why not.

    ``attributes`` are the envelope's: ``subject`` is required, ``source`` defaults to the
    topic's writer, ``correlationid`` to the subject, ``id`` to ``event_id`` and ``time``
    to ``now``.
    """
    spec = intake_types().get(event_type)
    if spec is None:
        known = ", ".join(sorted(intake_types()))
        return _refuse(Reason.UNKNOWN_TYPE, "type",
                       f"{event_type!r} is not an intake event type; one of: {known}")
    if len(body) > MAX_PAYLOAD_BYTES:
        return _refuse(Reason.OVERSIZE, "(root)",
                       f"body exceeds {MAX_PAYLOAD_BYTES} bytes")
    envelope = _envelope(spec, attributes, event_id, now)
    if isinstance(envelope, Refusal):
        return envelope
    if not body.strip():
        return _refuse(Reason.MALFORMED_JSON, "(root)", "the body is empty")
    try:
        data = spec.model.model_validate_json(body)
    except ValidationError as exc:
        malformed = any(e["type"] == "json_invalid" for e in exc.errors())
        return Refusal(Reason.MALFORMED_JSON if malformed else Reason.SCHEMA_VIOLATION,
                       field_errors(exc))
    return Accepted(envelope, data, spec.topic, key_of(spec, data))
