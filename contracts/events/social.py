"""Events the social service (Dinsos) publishes. Pseudonymous refs only, no NIK or KK."""

from datetime import date
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, Field, StringConstraints

from contracts.base import Contract, HouseholdRef, PersonRef, RegionCode, Rupiah
from contracts.events.intake import BusinessStatus
from contracts.regions import kaltim_regions


class HousingNeed(StrEnum):
    """One kind of Public Works intervention; a flag lists each need at most once."""

    CLEAN_WATER = "clean_water_connection"
    SANITATION = "sanitation"
    HOUSE_REHABILITATION = "house_rehabilitation"


class Resolution(StrEnum):
    COMPLETED = "completed"
    REJECTION_ACKNOWLEDGED = "rejection_acknowledged"


def _unique(needs: list[HousingNeed]) -> list[HousingNeed]:
    if len(set(needs)) != len(needs):
        raise ValueError("needs must not repeat")
    return needs


def _rp(amount: int) -> str:
    return f"Rp {amount:,}".replace(",", ".")


Needs = Annotated[list[HousingNeed], AfterValidator(_unique)]
Village = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class HouseholdRegistered(Contract):
    """``social.household.registered.v1``, on ``sinergi.social.household``."""

    household_ref: HouseholdRef
    region_code: RegionCode
    member_count: Annotated[int, Field(ge=1)]
    registered_on: date

    def summary(self) -> str:
        region = kaltim_regions()[self.region_code].name
        return f"Registered in {region} ({self.region_code}) with {self.member_count} members"


class HousingAssessed(Contract):
    """``social.housing.assessed.v1``: the RTLH rule's outcome, needs possibly empty."""

    household_ref: HouseholdRef
    region_code: RegionCode
    needs: Needs
    floor_area_per_person_m2: Annotated[float, Field(gt=0)]
    assessed_on: date

    def summary(self) -> str:
        needs = ", ".join(n.value for n in self.needs) or "no housing needs"
        return f"Housing assessed: {needs} ({self.floor_area_per_person_m2} m² per person)"


class HousingFlagged(Contract):
    """``social.housing.flagged.v1``, on ``sinergi.social.housing``, read by Public Works.

    Location and needs only: Public Works has no use for income or family details.
    """

    household_ref: HouseholdRef
    region_code: RegionCode
    village: Village
    needs: Annotated[Needs, Field(min_length=1, max_length=3)]

    def summary(self) -> str:
        return f"Housing flagged for Public Works: {', '.join(n.value for n in self.needs)}"


class HousingNeedResolved(Contract):
    """``social.housing.resolved.v1``: a need is done with, by completion or accepted rejection."""

    household_ref: HouseholdRef
    region_code: RegionCode
    need: HousingNeed
    ticket_id: UUID
    resolution: Resolution
    open_needs: Annotated[int, Field(ge=0)]

    def summary(self) -> str:
        return (f"Housing need {self.need.value} resolved ({self.resolution.value}); "
                f"{self.open_needs} still open")


class Child(Contract):
    person_ref: PersonRef
    age: Annotated[int, Field(ge=7, le=18)]


class EducationReferred(Contract):
    """``social.education.referred.v1``, on ``sinergi.social.education``, read by Education.

    School-age children only (7 to 18), pseudonymous: no family finances.
    """

    household_ref: HouseholdRef
    region_code: RegionCode
    children: Annotated[list[Child], Field(min_length=1, max_length=20)]

    def summary(self) -> str:
        return f"{len(self.children)} school-age children referred to Education (PKH)"


class GrantEligible(Contract):
    """``social.grant.eligible.v1``: a productive-age adult and income under the poverty line."""

    household_ref: HouseholdRef
    region_code: RegionCode
    monthly_income: Rupiah
    poverty_line: Rupiah

    def summary(self) -> str:
        return (f"Eligible for a business grant (income {_rp(self.monthly_income)} "
                f"< line {_rp(self.poverty_line)})")


class GrantAwarded(Contract):
    """``social.grant.awarded.v1``."""

    household_ref: HouseholdRef
    region_code: RegionCode
    amount: Annotated[int, Field(gt=0)]
    business_type: Village
    mentor: Village
    awarded_on: date

    def summary(self) -> str:
        return f"Business grant {_rp(self.amount)} for {self.business_type}, mentor {self.mentor}"


class MentoringVisited(Contract):
    """``social.mentoring.visited.v1``."""

    household_ref: HouseholdRef
    business_status: BusinessStatus
    monthly_revenue: Rupiah
    visited_on: date

    def summary(self) -> str:
        return (f"Mentoring visit: business {self.business_status.value}, "
                f"revenue {_rp(self.monthly_revenue)}/month")


class IncomeReported(Contract):
    """``social.income.reported.v1``."""

    household_ref: HouseholdRef
    region_code: RegionCode
    monthly_income: Rupiah
    poverty_line: Rupiah
    reported_on: date
    consecutive_at_or_above_line: Annotated[int, Field(ge=0)]

    def summary(self) -> str:
        side = "at/above" if self.monthly_income >= self.poverty_line else "below"
        return (f"Income {_rp(self.monthly_income)} {side} the poverty line "
                f"({self.consecutive_at_or_above_line} consecutive at/above)")


class FollowUpOpened(Contract):
    """``social.case.follow_up_opened.v1``: Dinsos answers a child's dropout risk."""

    household_ref: HouseholdRef
    person_ref: PersonRef
    risk_event_id: UUID

    def summary(self) -> str:
        return f"Case follow-up opened for child …{self.person_ref[-6:]} at dropout risk"


class HouseholdGraduated(Contract):
    """``social.household.graduated.v1``: independent of assistance; bansos ends."""

    household_ref: HouseholdRef
    region_code: RegionCode
    graduated_on: date
    consecutive_reports_at_or_above_line: Annotated[int, Field(ge=3)]
    bansos_ended: bool

    def summary(self) -> str:
        return "Graduated from assistance: bansos ends"
