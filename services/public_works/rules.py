"""Ticket rules: pure functions, no I/O."""

from collections.abc import Mapping
from datetime import date, timedelta

from contracts.events.social import HousingNeed

DEFAULT_DUE_DAYS: dict[HousingNeed, int] = {
    HousingNeed.CLEAN_WATER: 60,
    HousingNeed.SANITATION: 45,
    HousingNeed.HOUSE_REHABILITATION: 120,
}
"""Working time Public Works commits to per kind of work, from the day of the flag."""


def due_on(need: HousingNeed, flagged_on: date, due_days: dict[HousingNeed, int]) -> date:
    return flagged_on + timedelta(days=due_days[need])


def due_days_with(overrides: Mapping[HousingNeed, int] | None) -> dict[HousingNeed, int]:
    """The default working time per kind of work, with the configured ones replacing it."""
    return {**DEFAULT_DUE_DAYS, **(overrides or {})}
