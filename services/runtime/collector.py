"""The cycle collector, set for batches of records: seldom run, and any long pause logged."""

import gc
import time
from typing import Any

import structlog

SLOW_COLLECTION_MS = 100.0
"""A collection this long is logged (``gc_pause``): every consumer of the process stood
still meanwhile."""


def tune_gc() -> None:
    """Collect the young generation only once a million more objects are alive than
    freed, rather than every 700.

    The collector runs when the count of container objects allocated and not yet freed
    passes the threshold. A batch of 1 000 records keeps tens of thousands of them alive
    until it commits (records, events, envelopes, rows, header tuples), none in reference
    cycles: at 50 000, Dinsos draining alone went through 63 collections of ~15 ms each,
    9 % of its time, and they found 166 objects to free in all. At a million none ran
    during the drain (N = 30 000, each service alone, runs at 1 000 000 / 50 000 /
    1 000 000: Dinsos 2,996 / 2,600 / 2,984, Public Works 8,496 / 7,326 / 8,423, Education
    7,858 / 7,355 / 7,629 msg/s; peak memory 181 / 176 / 179 MiB). Cycles that do form
    (exceptions kept with their tracebacks) are still collected, only later.
    ``freeze`` moves what start-up loaded (modules, models) out of the collector's scans.
    """
    gc.freeze()
    gc.set_threshold(1_000_000, 20, 10)
    log_slow_collections(SLOW_COLLECTION_MS)


def log_slow_collections(longer_than_ms: float) -> None:
    """Log each collection that takes longer than ``longer_than_ms`` (``gc_pause``).

    Rare and cheap at the threshold above, and the one stall a process's own logs would
    not otherwise show: a message handled late for no reason in them (bench/README,
    findings: a reference cycle per batch made collections of 0.4-2.2 s).
    """
    started = 0.0

    def time_collection(phase: str, info: dict[str, Any]) -> None:
        nonlocal started
        if phase == "start":
            started = time.perf_counter()
            return
        ms = (time.perf_counter() - started) * 1000
        if ms > longer_than_ms:
            structlog.get_logger().warning(
                "gc_pause", generation=info["generation"], ms=round(ms, 1),
                collected=info["collected"])

    gc.callbacks.append(time_collection)
