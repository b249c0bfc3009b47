"""PKH education rules: pure functions, no I/O.

The attendance rule reads a pupil's monthly history, oldest first, ending with the month
just reported. Reports are assumed to arrive in calendar order per pupil (the school
systems key them by person ref, so one pupil's reports share a partition); the handler
refuses a month earlier than one already recorded rather than rewriting the past.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from contracts.events.education import SchoolLevel

ATTENDANCE_THRESHOLD_PCT = 85.0
"""PKH's attendance commitment: a month under this raises an alert."""
RISK_STREAK = 2
"""Consecutive months under the threshold that make a dropout risk."""

_LEVELS = ((7, 12, SchoolLevel.SD), (13, 15, SchoolLevel.SMP), (16, 18, SchoolLevel.SMA))


def level_for_age(age: int) -> SchoolLevel:
    """SD for 7 to 12, SMP for 13 to 15, SMA for 16 to 18; any other age is not school age here."""
    for low, high, level in _LEVELS:
        if low <= age <= high:
            return level
    raise ValueError(f"age {age} is outside school age 7 to 18")


def attendance_pct(days_present: int, school_days: int) -> float:
    """Percentage of school days present, rounded half up to one decimal."""
    if school_days < 1 or not 0 <= days_present <= school_days:
        raise ValueError(f"{days_present} present of {school_days} school days")
    exact = Decimal(days_present * 100) / Decimal(school_days)
    return float(exact.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def is_below_threshold(pct: float) -> bool:
    # Judged on the rounded figure the events publish, so a reader never sees an alert at
    # 85.0 %; with at most 31 school days no month rounds across the threshold anyway.
    return pct < ATTENDANCE_THRESHOLD_PCT


def month_index(month: str) -> int:
    """``YYYY-MM`` as a count of months, so calendar-adjacent months differ by one."""
    year, mon = month.split("-")
    return int(year) * 12 + int(mon) - 1


def month_after(month: str, on: date) -> bool:
    """True if ``month`` (``YYYY-MM``) is later than the month of ``on``: a report of a
    month not begun when it was sent."""
    return month_index(month) > on.year * 12 + on.month - 1


def months_adjacent(earlier: str, later: str) -> bool:
    return month_index(later) - month_index(earlier) == 1


@dataclass(frozen=True)
class MonthAttendance:
    month: str
    pct: float


@dataclass(frozen=True)
class Verdict:
    """What the newest month means for the pupil."""

    months_below: int
    """Length of the streak of consecutive months under the threshold ending now (0 if none)."""
    alert: bool
    dropout_risk: bool
    reengaged: bool


def months_below(history: Sequence[MonthAttendance]) -> int:
    """The streak of calendar-consecutive months under the threshold ending at the last one."""
    streak = 0
    later: MonthAttendance | None = None
    for month in reversed(history):
        if not is_below_threshold(month.pct):
            break
        if later is not None and not months_adjacent(month.month, later.month):
            break  # a month without a report breaks the streak
        streak += 1
        later = month
    return streak


def judge_month(history: Sequence[MonthAttendance], at_risk: bool) -> Verdict:
    """The verdict on ``history[-1]``; ``at_risk`` is whether a dropout risk is still open.

    Every month under the threshold raises an alert; the month a streak reaches
    ``RISK_STREAK`` raises the dropout risk (once per streak); the first month at or
    above the threshold while a risk is open re-engages the pupil.
    """
    if not history:
        raise ValueError("history must end with the month being judged")
    streak = months_below(history)
    return Verdict(
        months_below=streak,
        alert=streak > 0,
        dropout_risk=streak == RISK_STREAK,
        reengaged=streak == 0 and at_risk,
    )
