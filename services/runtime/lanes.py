"""Splitting a consumed batch into lanes: transactions handled side by side.

A service's time on a batch is its own Python, then waiting for PostgreSQL (inbox claim,
inserts, commit). With the batch split in two transactions, one lane's Python runs while
the other's statements are in the database. Order matters only per key (the household
ref: one household's events are keyed alike and share a partition), so every record of a
key goes to the same lane, in its order, and lanes share no household. (Rows shared across
households, such as Dinsos's pseudonym lookups, are written in a fixed order, so two lanes
wait for each other there rather than deadlock.) A small batch is left whole: a second
transaction costs more than it hides.
"""

import zlib
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")

MIN_LANE_RECORDS = 200
"""Fewest records a lane is given: below this a batch is not split."""


def split_by_key(items: Sequence[T], key: Callable[[T], bytes | None], lanes: int,
                 min_records: int = MIN_LANE_RECORDS) -> list[list[T]]:
    """``items`` in at most ``lanes`` non-empty groups, at most one per ``min_records``
    items; each key's items in one group, in their order; items without a key together."""
    count = min(lanes, len(items) // max(min_records, 1))
    if count <= 1:
        return [list(items)]
    groups: list[list[T]] = [[] for _ in range(count)]
    for item in items:
        k = key(item)
        groups[zlib.crc32(k) % count if k else 0].append(item)
    return [g for g in groups if g]
