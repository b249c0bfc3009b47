"""When a household graduates from assistance: a pure function, no I/O."""

from collections.abc import Iterable, Sequence
from datetime import date
from enum import StrEnum

REPORTS_TO_GRADUATE = 3
"""Income at or above the poverty line in this many consecutive reports."""


class NeedStatus(StrEnum):
    """Where a flagged housing need stands, from Dinsos's point of view."""

    FLAGGED = "flagged"
    """Flagged to Public Works, no ticket seen yet."""
    OPEN = "open"
    """A works ticket is open for it."""
    COMPLETED = "completed"
    REJECTED = "rejected"
    """Public Works refused it; open until Dinsos acknowledges the reason."""
    ACKNOWLEDGED = "acknowledged"


RESOLVED = frozenset({NeedStatus.COMPLETED, NeedStatus.ACKNOWLEDGED})


def consecutive_at_or_above(incomes: Sequence[int], poverty_line: int) -> int:
    """How many of the latest reports (oldest first) are at or above the line, unbroken."""
    count = 0
    for income in reversed(incomes):
        if income < poverty_line:
            break
        count += 1
    return count


def graduates(
    incomes: Sequence[int], poverty_line: int, needs: Iterable[NeedStatus],
    children_at_risk: int,
) -> bool:
    """Stable income, every flagged need resolved and no child at dropout risk.

    ``incomes`` are the household's reports in reported-on order; income exactly at the
    line counts as at or above it.
    """
    return (
        consecutive_at_or_above(incomes, poverty_line) >= REPORTS_TO_GRADUATE
        and all(status in RESOLVED for status in needs)
        and children_at_risk == 0
    )


def graduation_date(on: date, conditions_met_on: Iterable[date]) -> date:
    """The day a household graduates: the day of the record that completed its conditions,
    but never before a report or resolution they rest on (a field update may arrive months
    late, dated the day the work was done)."""
    return max([on, *conditions_met_on])
