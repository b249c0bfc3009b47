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
_ATTRIBUTES = ("specversion", "id", "type", "source", "subject", "time", "correlationid",
               "causationid")
REQUIRED_HEADERS = tuple(f"ce_{a}" for a in _ATTRIBUTES if a != "causationid")


class EnvelopeError(ValueError):
    """Headers that do not form a valid envelope; the message says which and why."""


class Envelope(Contract):
    specversion: Literal["1.0"] = "1.0"
    id: UUID
    type: EventType
    source: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    subject: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    time: AwareDatetime
    correlationid: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    causationid: UUID | None = None

    def header_pairs(self) -> list[tuple[str, str]]:
        """The headers as text, in the order ``to_headers`` sends them."""
        pairs = [("ce_specversion", self.specversion), ("ce_id", str(self.id)),
                 ("ce_type", self.type), ("ce_source", self.source),
                 ("ce_subject", self.subject), ("ce_correlationid", self.correlationid),
                 ("ce_time", self.time.isoformat())]
        if self.causationid is not None:
            pairs.append(("ce_causationid", str(self.causationid)))
        pairs.append(("content-type", CONTENT_TYPE))
        return pairs

    def to_headers(self) -> list[tuple[str, bytes]]:
        return [(name, value.encode()) for name, value in self.header_pairs()]

    @classmethod
    def from_headers(cls, headers: Iterable[tuple[str, bytes | str | None]]) -> "Envelope":
        values: dict[str, str] = {}
        for name, raw in headers:
            if not name.startswith("ce_") or raw is None:
                continue
            try:
                values[name[3:]] = raw.decode("utf-8") if isinstance(raw, bytes) else raw
            except UnicodeDecodeError as exc:
                raise EnvelopeError(f"header {name} is not valid UTF-8") from exc
        missing = [h for h in REQUIRED_HEADERS if h[3:] not in values]
        if missing:
            raise EnvelopeError(f"missing CloudEvents headers: {', '.join(missing)}")
        try:
            return cls.model_validate_json(orjson.dumps(values))
        except ValidationError as exc:
            raise EnvelopeError(describe(exc)) from exc


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

