"""BPS region codes of East Kalimantan's ten kabupaten/kota.

The list ships with the contracts (a copy of the brief's reference file) so that a
consumer validates region codes exactly as the producers do.
"""

import csv
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import cache
from importlib import resources


@dataclass(frozen=True)
class Region:
    bps_code: str
    name: str
    kind: str
    poor_people: int
    poverty_rate_pct: float | None


@cache
def kaltim_regions() -> dict[str, Region]:
    """Every kabupaten/kota of East Kalimantan, keyed by its four-digit BPS code."""
    text = resources.files("contracts").joinpath("kaltim_regions.csv").read_text("utf-8")
    regions = {}
    for row in csv.DictReader(text.splitlines()):
        rate = row["poverty_rate_pct"]
        regions[row["bps_code"]] = Region(
            bps_code=row["bps_code"],
            name=row["name"],
            kind=row["kind"],
            poor_people=int(row["poor_people"]),
            poverty_rate_pct=float(rate) if rate else None,
        )
    return regions


def check_region_code(code: str) -> str:
    """Return the code if it names a kabupaten/kota of East Kalimantan, else raise ValueError."""
    if code not in kaltim_regions():
        known = ", ".join(sorted(kaltim_regions()))
        raise ValueError(
            f"{code!r} is not a BPS code of an East Kalimantan kabupaten/kota ({known})"
        )
    return code


WITA = timezone(timedelta(hours=8), "WITA")
"""East Kalimantan's time (UTC+8): a date an agency's staff would write is a WITA date."""


def local_date(moment: datetime) -> date:
    """The WITA date of an aware moment."""
    return moment.astimezone(WITA).date()
