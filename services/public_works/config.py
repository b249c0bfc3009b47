"""Configuration of the Public Works service read from the environment: parsing only."""

import re

from contracts.events.social import HousingNeed

DUE_DAYS_ENV = "SINERGI_DUE_DAYS"
"""e.g. ``clean_water_connection=60,sanitation=45,house_rehabilitation=120``."""

_DAYS = re.compile(r"^\d+$")


class DueDaysError(ValueError):
    """A malformed due-days setting; the message names the faulty entry and what is allowed."""


def parse_due_days(text: str) -> dict[HousingNeed, int]:
    """Days allowed per kind of work from ``need=days`` pairs separated by commas.

    Blank means no override. Needs left out keep their default; days are whole and >= 1.
    """
    if not text.strip():
        return {}
    known = ", ".join(n.value for n in HousingNeed)
    out: dict[HousingNeed, int] = {}
    for entry in text.split(","):
        name, sep, days = (part.strip() for part in entry.partition("="))
        if not sep or not name:
            raise DueDaysError(f"entry {entry.strip()!r} is not of the form need=days")
        try:
            need = HousingNeed(name)
        except ValueError:
            raise DueDaysError(f"unknown work type {name!r}; known: {known}") from None
        if need in out:
            raise DueDaysError(f"{name} is given twice")
        if not _DAYS.match(days) or int(days) < 1:
            raise DueDaysError(f"{name}={days!r}: days must be a whole number of at least 1")
        out[need] = int(days)
    return out
