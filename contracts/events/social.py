"""Events the social service (Dinsos) publishes. Pseudonymous refs only, no NIK or KK."""

from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

from contracts.base import Contract, HouseholdRef, RegionCode


class HousingNeed(StrEnum):
    """One kind of Public Works intervention; a flag lists each need at most once."""

    CLEAN_WATER = "clean_water_connection"
    SANITATION = "sanitation"
    HOUSE_REHABILITATION = "house_rehabilitation"


def _unique(needs: list["HousingNeed"]) -> list["HousingNeed"]:
    if len(set(needs)) != len(needs):
        raise ValueError("needs must not repeat")
    return needs


class HouseholdRegistered(Contract):
    """``social.household.registered.v1``, on ``sinergi.social.household``."""

    household_ref: HouseholdRef
    region_code: RegionCode
    member_count: Annotated[int, Field(ge=1)]
    registered_on: date


class HousingAssessed(Contract):
    """``social.housing.assessed.v1``: the RTLH rule's outcome, needs possibly empty."""

    household_ref: HouseholdRef
    region_code: RegionCode
    needs: Annotated[list[HousingNeed], AfterValidator(_unique)]
    floor_area_per_person_m2: Annotated[float, Field(gt=0)]
    assessed_on: date


class HousingFlagged(Contract):
    """``social.housing.flagged.v1``, on ``sinergi.social.housing``, read by Public Works.

    Location and needs only: Public Works has no use for income or family details.
    """

    household_ref: HouseholdRef
    region_code: RegionCode
    village: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    needs: Annotated[list[HousingNeed], Field(min_length=1, max_length=3), AfterValidator(_unique)]
