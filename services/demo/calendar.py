"""Simulated months: month 0 is the intake month, month 1..12 follow."""

from datetime import date


def month_of(start: date, month: int) -> tuple[int, int]:
    index = start.year * 12 + start.month - 1 + month
    return index // 12, index % 12 + 1


def month_day(start: date, month: int, day: int) -> date:
    year, mon = month_of(start, month)
    return date(year, mon, day)


def month_label(start: date, month: int) -> str:
    year, mon = month_of(start, month)
    return f"{year:04d}-{mon:02d}"
