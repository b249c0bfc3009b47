"""Events the Education service (PKH education component) publishes, and school reports."""

from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import Field, StringConstraints, model_validator

from contracts.base import Contract, HouseholdRef, PersonRef, RegionCode

Month = Annotated[str, StringConstraints(pattern=r"^20\d\d-(0[1-9]|1[0-2])$")]
"""A calendar month, ``YYYY-MM``."""


class SchoolLevel(StrEnum):
    SD = "SD"
    SMP = "SMP"
    SMA = "SMA"


class AttendanceReport(Contract):
    """``intake.attendance.v1`` from a school system, keyed by person ref."""

    person_ref: PersonRef
    month: Month
    school_days: Annotated[int, Field(ge=1, le=31)]
    days_present: Annotated[int, Field(ge=0, le=31)]

    @model_validator(mode="after")
    def _present_within_school_days(self) -> "AttendanceReport":
        if self.days_present > self.school_days:
            raise ValueError("days_present exceeds school_days")
        return self


class PupilEnrolled(Contract):
    """``education.pupil.enrolled.v1``: a referred child enrolled for PKH education support."""

    household_ref: HouseholdRef
    person_ref: PersonRef
    region_code: RegionCode
    level: SchoolLevel

    def summary(self) -> str:
        return f"Child …{self.person_ref[-6:]} enrolled for PKH education support ({self.level})"


class _Attendance(Contract):
    household_ref: HouseholdRef
    person_ref: PersonRef
    month: Month
    attendance_pct: Annotated[float, Field(ge=0, le=100)]


class AttendanceAlert(_Attendance):
    """``education.attendance.alert.v1``: a month under 85 % attendance."""

    def summary(self) -> str:
        return f"Attendance alert: child …{self.person_ref[-6:]} at {self.attendance_pct}% " \
               f"in {self.month}"


class DropoutRisk(_Attendance):
    """``education.dropout.risk.v1``: two months in a row under 85 %; Dinsos follows up."""

    months_below: Annotated[int, Field(ge=2)]

    def summary(self) -> str:
        return f"Dropout risk: child …{self.person_ref[-6:]} under 85% for " \
               f"{self.months_below} months"


class PupilReengaged(_Attendance):
    """``education.pupil.reengaged.v1``: attendance back at or above 85 % after a risk."""

    risk_event_id: UUID

    def summary(self) -> str:
        return f"Child …{self.person_ref[-6:]} re-engaged ({self.attendance_pct}% in {self.month})"
