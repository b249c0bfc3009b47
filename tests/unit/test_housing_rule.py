import pytest

from contracts.events.intake import FloorMaterial, HousingSurvey
from contracts.events.social import HousingNeed
from services.social.rules import MIN_FLOOR_AREA_PER_PERSON_M2, housing_needs

pytestmark = pytest.mark.unit


def survey(**changes: object) -> HousingSurvey:
    fit = dict(
        has_clean_water=True, has_healthy_latrine=True, floor_material=FloorMaterial.CEMENT,
        walls_fit=True, roof_fit=True, floor_area_m2=72.0,
    )
    return HousingSurvey(**{**fit, **changes})


def test_fit_house_has_no_needs() -> None:
    assert housing_needs(survey(), member_count=4) == []


def test_no_clean_water_needs_a_water_connection_only() -> None:
    assert housing_needs(survey(has_clean_water=False), 4) == [HousingNeed.CLEAN_WATER]


def test_no_healthy_latrine_needs_sanitation_only() -> None:
    assert housing_needs(survey(has_healthy_latrine=False), 4) == [HousingNeed.SANITATION]


@pytest.mark.parametrize(
    "change",
    [
        {"floor_material": FloorMaterial.EARTH},
        {"walls_fit": False},
        {"roof_fit": False},
    ],
    ids=["earth_floor", "unfit_walls", "unfit_roof"],
)
def test_each_unfit_structure_criterion_needs_rehabilitation(change: dict) -> None:
    assert housing_needs(survey(**change), 4) == [HousingNeed.HOUSE_REHABILITATION]


@pytest.mark.parametrize("material", [FloorMaterial.WOOD, FloorMaterial.CEMENT, FloorMaterial.TILE])
def test_floors_other_than_earth_are_fit(material: FloorMaterial) -> None:
    assert housing_needs(survey(floor_material=material), 4) == []


def test_floor_area_exactly_at_the_minimum_per_person_is_fit() -> None:
    area = MIN_FLOOR_AREA_PER_PERSON_M2 * 5
    assert housing_needs(survey(floor_area_m2=area), member_count=5) == []


# Areas as a surveyor writes them: in floats 64.8 / 9 is 7.199999999999999.
@pytest.mark.parametrize(("area", "members"), [
    (7.2, 1), (64.8, 9), (93.6, 13), (129.6, 18), (151.2, 21), (187.2, 26)])
def test_exactly_the_minimum_per_person_is_fit_whatever_the_household_size(
    area: float, members: int
) -> None:
    assert housing_needs(survey(floor_area_m2=area), member_count=members) == []


@pytest.mark.parametrize(("area", "members"), [(7.19, 1), (64.79, 9), (187.19, 26)])
def test_a_hundredth_of_a_square_metre_under_the_minimum_needs_rehabilitation(
    area: float, members: int
) -> None:
    assert housing_needs(survey(floor_area_m2=area), member_count=members) == [
        HousingNeed.HOUSE_REHABILITATION]


@pytest.mark.parametrize("area", [0, -1.0])
def test_a_survey_without_floor_area_is_refused_by_the_contract(area: float) -> None:
    with pytest.raises(ValueError, match="floor_area_m2"):
        survey(floor_area_m2=area)


def test_floor_area_just_under_the_minimum_per_person_needs_rehabilitation() -> None:
    area = MIN_FLOOR_AREA_PER_PERSON_M2 * 5 - 0.01
    assert housing_needs(survey(floor_area_m2=area), member_count=5) == [
        HousingNeed.HOUSE_REHABILITATION
    ]


def test_crowding_counts_every_member() -> None:
    assert housing_needs(survey(floor_area_m2=36.0), member_count=5) == []
    assert housing_needs(survey(floor_area_m2=36.0), member_count=6) == [
        HousingNeed.HOUSE_REHABILITATION
    ]


def test_every_criterion_failing_lists_each_need_once_in_fixed_order() -> None:
    worst = survey(
        has_clean_water=False, has_healthy_latrine=False, floor_material=FloorMaterial.EARTH,
        walls_fit=False, roof_fit=False, floor_area_m2=10.0,
    )
    assert housing_needs(worst, 6) == [
        HousingNeed.CLEAN_WATER, HousingNeed.SANITATION, HousingNeed.HOUSE_REHABILITATION
    ]


def test_a_household_without_members_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one member"):
        housing_needs(survey(), 0)
