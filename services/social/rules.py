"""Assessment rules: pure functions over an intake record, no I/O."""

from decimal import Decimal

from contracts.events.intake import FloorMaterial, HousingSurvey
from contracts.events.social import HousingNeed

MIN_FLOOR_AREA_PER_PERSON_M2 = 7.2
"""Below this a house is unfit (RTLH criterion on crowding)."""


def floor_area_per_person(survey: HousingSurvey, member_count: int) -> float:
    return survey.floor_area_m2 / member_count


def is_crowded(survey: HousingSurvey, member_count: int) -> bool:
    """Under 7.2 m² a person, exactly: in floats 64.8 m² for 9 people is 7.199999…"""
    area = Decimal(repr(survey.floor_area_m2))  # the shortest decimal that is this float
    return area < Decimal(repr(MIN_FLOOR_AREA_PER_PERSON_M2)) * member_count


def housing_needs(survey: HousingSurvey, member_count: int) -> list[HousingNeed]:
    """The Public Works interventions a house needs, in a fixed order, each at most once.

    No clean water → a water connection; no healthy latrine → sanitation; an earth floor,
    unfit walls or roof, or under 7.2 m² of floor per person → house rehabilitation.
    """
    if member_count < 1:
        raise ValueError("a household has at least one member")
    needs = []
    if not survey.has_clean_water:
        needs.append(HousingNeed.CLEAN_WATER)
    if not survey.has_healthy_latrine:
        needs.append(HousingNeed.SANITATION)
    unfit = (
        survey.floor_material is FloorMaterial.EARTH
        or not survey.walls_fit
        or not survey.roof_fit
        or is_crowded(survey, member_count)
    )
    if unfit:
        needs.append(HousingNeed.HOUSE_REHABILITATION)
    return needs
