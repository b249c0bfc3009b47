"""Referral and grant-eligibility rules at their boundaries."""

from datetime import date

import pytest

from contracts.events.intake import (
    FloorMaterial,
    HouseholdIntake,
    HousingSurvey,
    Member,
    Relation,
)
from services.social.empowerment import (
    age_on,
    grant_eligible,
    has_productive_age_member,
    is_school_age_child,
    school_age_children,
)

pytestmark = pytest.mark.unit

LINE = 4_543_264
ON = date(2025, 3, 10)


def born_years_before(years: int, days_later: int = 0) -> date:
    """The birth date of someone whose ``years``-th birthday is ``days_later`` days after ON."""
    return date(ON.year - years, ON.month, ON.day + days_later)


def member(birth: date, relation: Relation = Relation.CHILD, nik: str = "6472011203150001"
           ) -> Member:
    return Member(nik=nik, birth_date=birth, relation=relation)


def intake(members: list[Member], income: int) -> HouseholdIntake:
    survey = HousingSurvey(has_clean_water=True, has_healthy_latrine=True,
                           floor_material=FloorMaterial.CEMENT, walls_fit=True, roof_fit=True,
                           floor_area_m2=60.0)
    return HouseholdIntake(kk_number="6472010000000001", region_code="6472", village="Loa Janan",
                           members=members, housing=survey, monthly_income=income,
                           assessed_on=ON)


def head(birth: date) -> Member:
    return member(birth, Relation.HEAD, nik="6472010101800001")


def test_age_goes_up_on_the_birthday_not_the_day_before() -> None:
    assert age_on(date(2018, 3, 10), date(2025, 3, 9)) == 6
    assert age_on(date(2018, 3, 10), date(2025, 3, 10)) == 7


def test_born_on_29_february_ages_on_1_march_in_a_common_year() -> None:
    assert age_on(date(2016, 2, 29), date(2025, 2, 28)) == 8
    assert age_on(date(2016, 2, 29), date(2025, 3, 1)) == 9


def test_age_before_birth_is_an_error() -> None:
    with pytest.raises(ValueError):
        age_on(date(2025, 3, 11), ON)


@pytest.mark.parametrize(("birth", "school_age"), [
    (born_years_before(7, days_later=1), False),  # the day before the 7th birthday
    (born_years_before(7), True),  # the 7th birthday
    (born_years_before(19, days_later=1), True),  # the day before the 19th birthday: 18
    (born_years_before(19), False),  # the 19th birthday
])
def test_school_age_is_from_the_7th_to_the_day_before_the_19th_birthday(
    birth: date, school_age: bool
) -> None:
    assert is_school_age_child(member(birth), ON) is school_age


@pytest.mark.parametrize("relation", [Relation.HEAD, Relation.SPOUSE])
def test_head_and_spouse_are_never_referred_as_children(relation: Relation) -> None:
    assert not is_school_age_child(member(born_years_before(17), relation), ON)


def test_a_grandchild_of_school_age_is_referred() -> None:
    assert is_school_age_child(member(born_years_before(10), Relation.OTHER), ON)


def test_school_age_children_come_with_their_age_on_the_assessment_date() -> None:
    eight = member(born_years_before(8), nik="6472011203170001")
    toddler = member(born_years_before(3), nik="6472011203220001")
    household = intake([head(born_years_before(40)), eight, toddler], income=1_000_000)
    assert school_age_children(household) == [(eight, 8)]


@pytest.mark.parametrize(("birth", "productive"), [
    (born_years_before(18, days_later=1), False),  # 17, the day before the 18th birthday
    (born_years_before(18), True),
    (born_years_before(65, days_later=1), True),  # 64, the day before the 65th birthday
    (born_years_before(65), False),
])
def test_a_productive_age_adult_is_18_to_64_on_the_assessment_date(
    birth: date, productive: bool
) -> None:
    assert has_productive_age_member([member(birth)], ON) is productive


@pytest.mark.parametrize(("income", "eligible"), [
    (LINE - 1, True), (LINE, False), (LINE + 1, False), (0, True),
])
def test_grant_needs_income_strictly_under_the_poverty_line(income: int, eligible: bool) -> None:
    household = intake([head(born_years_before(40))], income)
    assert grant_eligible(household, LINE) is eligible


def test_grant_needs_an_adult_of_productive_age_not_a_school_age_teenager() -> None:
    elderly = intake([head(born_years_before(70))], income=500_000)
    assert not grant_eligible(elderly, LINE)
    with_teen = intake([head(born_years_before(70)),
                        member(born_years_before(17), nik="6472011203100001")], income=500_000)
    assert not grant_eligible(with_teen, LINE)
    with_adult_child = intake([head(born_years_before(70)),
                               member(born_years_before(18), nik="6472011203070001")],
                              income=500_000)
    assert grant_eligible(with_adult_child, LINE)


@pytest.mark.parametrize(("birth", "assessed", "referred"), [
    (date(2016, 2, 29), date(2023, 2, 28), False),  # 6: a leap-day child turns 7 on 1 March
    (date(2016, 2, 29), date(2023, 3, 1), True),
    (date(2004, 2, 29), date(2023, 2, 28), True),  # still 18
    (date(2004, 2, 29), date(2023, 3, 1), False),  # 19
    (date(2017, 2, 28), date(2024, 2, 29), True),  # assessed on a leap day: 7 the day before
    (date(2017, 3, 1), date(2024, 2, 29), False),  # 7 only the day after
])
def test_school_age_bounds_hold_around_leap_days(
    birth: date, assessed: date, referred: bool
) -> None:
    assert is_school_age_child(member(birth), assessed) is referred
