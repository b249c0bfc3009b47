"""Which household the health office visits, and by when: pure functions, no I/O.

Sinergi does not publish children under five today, so the office acts on what it does
publish: a house without clean water or a healthy latrine (diarrhoea and stunting risk for
small children) and a school child at dropout risk (often illness). The visiting nurse
records the under-fives she finds there.
"""

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from contracts.events.education import DropoutRisk
from contracts.events.social import HousingFlagged, HousingNeed


class Reason(StrEnum):
    NO_CLEAN_WATER = "no_clean_water"
    NO_HEALTHY_LATRINE = "no_healthy_latrine"
    CHILD_DROPOUT_RISK = "child_dropout_risk"


HOUSING_REASONS = {
    HousingNeed.CLEAN_WATER: Reason.NO_CLEAN_WATER,
    HousingNeed.SANITATION: Reason.NO_HEALTHY_LATRINE,
}
DAYS_IF_NO_WATER_AND_NO_LATRINE = 7
DAYS_IF_NO_WATER_OR_NO_LATRINE = 14
DAYS_IF_DROPOUT_RISK = 30


@dataclass(frozen=True)
class Visit:
    household_ref: str
    reasons: tuple[Reason, ...]
    due_by: date
    region_code: str | None = None
    village: str | None = None


def visit_for(data: HousingFlagged | DropoutRisk, happened_on: date) -> Visit | None:
    """The visit an event calls for, or None; ``happened_on`` is the event's date (ce_time)."""
    if isinstance(data, DropoutRisk):
        return Visit(data.household_ref, (Reason.CHILD_DROPOUT_RISK,),
                     happened_on + timedelta(days=DAYS_IF_DROPOUT_RISK))
    reasons = tuple(HOUSING_REASONS[n] for n in data.needs if n in HOUSING_REASONS)
    if not reasons:
        return None  # house rehabilitation alone is Public Works' business, not a health risk
    days = (DAYS_IF_NO_WATER_AND_NO_LATRINE if len(reasons) == 2
            else DAYS_IF_NO_WATER_OR_NO_LATRINE)
    return Visit(data.household_ref, reasons, happened_on + timedelta(days=days),
                 data.region_code, data.village)
