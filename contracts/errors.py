"""Why a message was refused, in words a publishing agency's system can act on."""

from enum import StrEnum

from pydantic import ValidationError


class Reason(StrEnum):
    """Machine-readable reason codes, carried in the dead-letter header ``reason``."""

    MALFORMED_JSON = "malformed_json"
    INVALID_ENVELOPE = "invalid_envelope"
    UNKNOWN_TYPE = "unknown_type"
    WRONG_TOPIC = "wrong_topic"
    SCHEMA_VIOLATION = "schema_violation"
    OVERSIZE = "oversize"


class ContractViolation(ValueError):
    """A message that can never be processed as it is: it goes to the dead-letter topic."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


def describe(exc: ValidationError, limit: int = 5) -> str:
    """One line naming each failing field, e.g. ``members.0.nik: String should match...``."""
    parts = []
    for err in exc.errors()[:limit]:
        where = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{where}: {err['msg']}")
    more = len(exc.errors()) - limit
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)
