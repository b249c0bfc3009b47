"""Time-ordered event ids (UUID version 7, RFC 9562)."""

import os
import time
import uuid

# Random bits for 256 ids at a time: one getrandom call instead of one per event (an
# emitted event's id was a twentieth of Public Works' busy time under py-spy).
_POOL_IDS = 256
_pool = b""
_taken = 0


_last = (0, 0)
"""The last id's milliseconds and 74 random bits (rand_a, rand_b), for monotonic ids."""
_RANDOM_BITS = 74


def _forget_pool() -> None:
    """A forked child must not hand out the ids its parent will."""
    global _pool, _taken, _last
    _pool, _taken, _last = b"", 0, (0, 0)


os.register_at_fork(after_in_child=_forget_pool)


def new_event_id() -> uuid.UUID:
    """A UUIDv7: 48 bits of Unix milliseconds, then random bits, so ids sort by time.

    Within a process each id is greater than the one before (RFC 9562's monotonic random):
    in the same millisecond, or if the clock stepped back, the last id's random bits plus
    one. So two events one process emits in one millisecond still sort in emit order (a
    later referral of a child moves it: ``services/education/handlers.py``).
    """
    global _pool, _taken, _last
    if _taken >= len(_pool):
        _pool, _taken = os.urandom(10 * _POOL_IDS), 0
    rand = int.from_bytes(_pool[_taken:_taken + 10], "big") & ((1 << _RANDOM_BITS) - 1)
    _taken += 10
    millis = time.time_ns() // 1_000_000
    if (millis, rand) <= _last:
        millis, rand = _last[0], _last[1] + 1
        if rand >> _RANDOM_BITS:  # the random bits ran out: the next millisecond
            millis, rand = millis + 1, 0
    _last = (millis, rand)
    value = (millis & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version
    value |= (rand >> 62 & 0xFFF) << 64  # rand_a, 12 bits
    value |= 0b10 << 62  # variant
    value |= rand & ((1 << 62) - 1)  # rand_b, 62 bits
    return uuid.UUID(int=value)
