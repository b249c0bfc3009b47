"""The envelope every event carries: CloudEvents 1.0 attributes in Kafka headers.

Kafka binary content mode: each attribute is a ``ce_<name>`` header, the payload is
the event's data as JSON. ``correlationid`` (the household's case) and
``causationid`` (the event that caused this one) are CloudEvents extensions.
"""

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Literal
from uuid import UUID

import orjson
from pydantic import AwareDatetime, StringConstraints, ValidationError

from contracts.base import Contract
from contracts.errors import describe
from contracts.ids import new_event_id

EventType = Annotated[str, StringConstraints(pattern=r"^[a-z_]+(\.[a-z_]+)+\.v[1-9]\d*$")]

CONTENT_TYPE = "application/json"
_TEXT_MAX = 200
# CloudEvents 1.0 forbids control characters in attribute strings; PostgreSQL's jsonb,
# where the outbox keeps them, refuses NUL.
_Text = Annotated[str, StringConstraints(min_length=1, max_length=_TEXT_MAX,
                                         pattern=r"^[^\x00-\x1f\x7f-\x9f]+$")]
_ATTRIBUTES = ("specversion", "id", "type", "source", "subject", "time", "correlationid",
               "causationid")
REQUIRED_HEADERS = tuple(f"ce_{a}" for a in _ATTRIBUTES if a != "causationid")
_REQUIRED = frozenset(h[3:] for h in REQUIRED_HEADERS)


class EnvelopeError(ValueError):
    """Headers that do not form a valid envelope; the message says which and why."""


class Envelope(Contract):
    specversion: Literal["1.0"] = "1.0"
    id: UUID
    type: EventType
    source: _Text
    subject: _Text
    time: AwareDatetime
    correlationid: _Text
    causationid: UUID | None = None

    def header_pairs(self) -> list[tuple[str, str]]:
        """The headers as text, in the order ``to_headers`` sends them."""
        return header_pairs(id=self.id, type=self.type, source=self.source,
                            subject=self.subject, correlationid=self.correlationid,
                            time=self.time, causationid=self.causationid)

    def to_headers(self) -> list[tuple[str, bytes]]:
        return [(name, value.encode()) for name, value in self.header_pairs()]

    @classmethod
    def from_headers(cls, headers: Iterable[tuple[str, bytes | str | None]]) -> "Envelope":
        values: dict[str, str] = {}
        try:
            for name, raw in headers:
                if name[:3] == "ce_" and raw is not None:
                    values[name[3:]] = raw if isinstance(raw, str) else raw.decode()
        except UnicodeDecodeError as exc:
            raise EnvelopeError(f"header {name} is not valid UTF-8") from exc
        if not _REQUIRED <= values.keys():
            missing = [h for h in REQUIRED_HEADERS if h[3:] not in values]
            raise EnvelopeError(f"missing CloudEvents headers: {', '.join(missing)}")
        try:
            return cls.model_validate_json(orjson.dumps(values))
        except ValidationError as exc:
            raise EnvelopeError(describe(exc)) from exc


def header_pairs(*, id: UUID, type: str, source: str, subject: str, correlationid: str,
                 time: datetime, causationid: UUID | None) -> list[tuple[str, str]]:
    """An envelope's headers as text, without building (and validating) an ``Envelope``:
    for values already known valid (``check_emitted`` and a catalogue type)."""
    pairs = [("ce_specversion", "1.0"), ("ce_id", str(id)), ("ce_type", type),
             ("ce_source", source), ("ce_subject", subject),
             ("ce_correlationid", correlationid), ("ce_time", time.isoformat())]
    if causationid is not None:
        pairs.append(("ce_causationid", str(causationid)))
    pairs.append(("content-type", CONTENT_TYPE))
    return pairs


def check_emitted(*, source: str, subject: str, correlationid: str, time: datetime,
                  causationid: UUID | None = None) -> None:
    """What ``Envelope`` would refuse of these values, as the same kind of error: an
    event this service emits must be one its readers accept."""
    for name, value in (("source", source), ("subject", subject),
                        ("correlationid", correlationid)):
        if not isinstance(value, str):
            raise EnvelopeError(f"{name} must be text, got {type(value).__name__}")
        if not 0 < len(value) <= _TEXT_MAX:
            raise EnvelopeError(f"{name} must be 1 to {_TEXT_MAX} characters, "
                                f"got {len(value)}")
    if not isinstance(time, datetime) or time.tzinfo is None or time.utcoffset() is None:
        raise EnvelopeError("time must be a timezone-aware datetime")
    if causationid is not None and not isinstance(causationid, UUID):
        raise EnvelopeError(f"causationid must be a UUID, got {type(causationid).__name__}")


def new_envelope(
    *,
    type: str,
    source: str,
    subject: str,
    correlationid: str,
    causationid: UUID | None,
    time: datetime | None = None,
) -> Envelope:
    return Envelope(
        id=new_event_id(),
        type=type,
        source=source,
        subject=subject,
        time=time or datetime.now(UTC),
        correlationid=correlationid,
        causationid=causationid,
    )

