"""Time-ordered event ids (UUID version 7, RFC 9562)."""

import os
import time
import uuid

# Random bits for 256 ids at a time: one getrandom call instead of one per event (an
# emitted event's id was a twentieth of Public Works' busy time under py-spy).
_POOL_IDS = 256
_pool = b""
_taken = 0


def _forget_pool() -> None:
    """A forked child must not hand out the ids its parent will."""
    global _pool, _taken
    _pool, _taken = b"", 0


os.register_at_fork(after_in_child=_forget_pool)


def new_event_id() -> uuid.UUID:
    """A UUIDv7: 48 bits of Unix milliseconds, then random bits, so ids sort by time."""
    global _pool, _taken
    if _taken >= len(_pool):
        _pool, _taken = os.urandom(10 * _POOL_IDS), 0
    rand = int.from_bytes(_pool[_taken:_taken + 10], "big")
    _taken += 10
    millis = time.time_ns() // 1_000_000
    value = (millis & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version
    value |= (rand >> 68 & 0xFFF) << 64  # rand_a, 12 bits
    value |= 0b10 << 62  # variant
    value |= rand & ((1 << 62) - 1)  # rand_b, 62 bits
    return uuid.UUID(int=value)
