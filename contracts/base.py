"""Base model and shared field types of every contract."""

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from contracts.regions import check_region_code


class Contract(BaseModel):
    """Strict by default: unknown fields are rejected and types are not coerced.

    JSON input still accepts ISO 8601 strings for dates, datetimes and UUIDs.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    def summary(self) -> str:
        """One line for a person reading a household's timeline."""
        return type(self).__name__


RegionCode = Annotated[
    str, StringConstraints(pattern=r"^64\d\d$"), AfterValidator(check_region_code)
]
"""Four-digit BPS code of a kabupaten/kota in East Kalimantan (64xx)."""

Rupiah = Annotated[int, Field(ge=0, description="Amount in whole rupiah")]

Ref = Annotated[
    str,
    StringConstraints(pattern=r"^[hp]-[0-9a-f]{32}$"),
]
"""A pseudonymous reference (h- household, p- person); never a NIK or KK number."""

HOUSEHOLD_REF_PATTERN = r"^h-[0-9a-f]{32}$"
HouseholdRef = Annotated[str, StringConstraints(pattern=HOUSEHOLD_REF_PATTERN)]
PersonRef = Annotated[str, StringConstraints(pattern=r"^p-[0-9a-f]{32}$")]
