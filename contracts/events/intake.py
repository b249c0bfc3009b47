"""Records the Dinsos case system publishes to its intake topic.

These carry identity numbers (NIK, KK) and so are read by the social service only;
they never appear on a shared topic.
"""

from datetime import date
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import Field, StringConstraints, model_validator

from contracts.base import Contract, RegionCode, Rupiah

Nik = Annotated[str, StringConstraints(pattern=r"^\d{16}$")]
"""National identity number, 16 digits."""
KkNumber = Annotated[str, StringConstraints(pattern=r"^\d{16}$")]
"""Family-card (Kartu Keluarga) number, 16 digits."""
Text100 = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class Relation(StrEnum):
    HEAD = "head"
    SPOUSE = "spouse"
    CHILD = "child"
    OTHER = "other"


class FloorMaterial(StrEnum):
    EARTH = "earth"
    WOOD = "wood"
    CEMENT = "cement"
    TILE = "tile"


class BusinessStatus(StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    GROWING = "growing"
    STALLED = "stalled"
    CLOSED = "closed"


class Member(Contract):
    nik: Nik
    birth_date: date
    relation: Relation


class HousingSurvey(Contract):
    """The RTLH survey: what the Dinsos field officer saw at the house."""

    has_clean_water: bool
    has_healthy_latrine: bool
    floor_material: FloorMaterial
    walls_fit: bool
    roof_fit: bool
    floor_area_m2: Annotated[float, Field(gt=0, le=10_000)]


class HouseholdIntake(Contract):
    """``intake.household.v1``: a household registered and assessed by Dinsos."""

    kk_number: KkNumber
    region_code: RegionCode
    village: Text100
    members: Annotated[list[Member], Field(min_length=1, max_length=30)]
    housing: HousingSurvey
    monthly_income: Rupiah
    assessed_on: date

    @model_validator(mode="after")
    def _one_head(self) -> "HouseholdIntake":
        heads = sum(1 for m in self.members if m.relation is Relation.HEAD)
        if heads != 1:
            raise ValueError(f"members must include exactly one head, found {heads}")
        if len({m.nik for m in self.members}) != len(self.members):
            raise ValueError("members contain the same NIK twice")
        return self


class IncomeReport(Contract):
    """``intake.income.v1``: the household's monthly income as a Dinsos officer recorded it."""

    kk_number: KkNumber
    monthly_income: Rupiah
    reported_on: date


class GrantAward(Contract):
    """``intake.grant.v1``: a business grant (bantuan usaha) handed over."""

    kk_number: KkNumber
    amount: Annotated[int, Field(gt=0, le=100_000_000, description="Whole rupiah")]
    business_type: Text100
    mentor: Text100
    awarded_on: date


class MentoringVisit(Contract):
    """``intake.mentoring.v1``: a mentor's visit to the household's business."""

    kk_number: KkNumber
    business_status: BusinessStatus
    monthly_revenue: Rupiah
    visited_on: date


class RejectionAcknowledgement(Contract):
    """``intake.rejection_ack.v1``: Dinsos accepts Public Works' reason for rejecting a ticket."""

    kk_number: KkNumber
    ticket_id: UUID
    acknowledged_on: date
