"""What the record processor reports as it goes (metrics), and the labels it uses."""

from collections.abc import Mapping
from typing import Protocol

from contracts.catalogue import EVENTS
from services.runtime.deadletter import Record


class Observer(Protocol):
    """What the processor reports as it goes (metrics); called on the hot path, so cheap."""

    def handled(self, consumer: str, event_type: str, outcome: str, seconds: float) -> None: ...
    def handled_many(self, consumer: str, counts: Mapping[tuple[str, str], int],
                     seconds: float) -> None:
        """``counts[(event_type, outcome)]`` records finished together, in ``seconds``."""
    def retrying(self, consumer: str, event_type: str) -> None: ...
    def dead_lettered(self, consumer: str, reason: str) -> None: ...


class Unobserved:
    def handled(self, consumer: str, event_type: str, outcome: str, seconds: float) -> None:
        pass

    def handled_many(self, consumer: str, counts: Mapping[tuple[str, str], int],
                     seconds: float) -> None:
        pass

    def retrying(self, consumer: str, event_type: str) -> None:
        pass

    def dead_lettered(self, consumer: str, reason: str) -> None:
        pass


def declared_type(record: Record) -> str:
    """The record's ``ce_type`` if the catalogue knows it, else ``unknown``.

    Metric labels take only catalogue types: a publisher sending made-up types must not
    grow the number of time series without bound.
    """
    for name, value in record.headers:
        if name == "ce_type" and value is not None:
            declared = value.decode("utf-8", "replace")
            return declared if declared in EVENTS else "unknown"
    return "unknown"
