"""Time-ordered event ids (UUID version 7, RFC 9562)."""

import os
import time
import uuid


def new_event_id() -> uuid.UUID:
    """A UUIDv7: 48 bits of Unix milliseconds, then random bits, so ids sort by time."""
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (millis & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version
    value |= (rand >> 68 & 0xFFF) << 64  # rand_a, 12 bits
    value |= 0b10 << 62  # variant
    value |= rand & ((1 << 62) - 1)  # rand_b, 62 bits
    return uuid.UUID(int=value)
