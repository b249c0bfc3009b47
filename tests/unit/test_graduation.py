"""Graduation at each boundary: three reports at the line, needs resolved, no child at risk."""

from datetime import date

import pytest

from services.social.graduation import (
    NeedStatus,
    consecutive_at_or_above,
    graduates,
    graduation_date,
)

pytestmark = pytest.mark.unit

LINE = 4_543_264
DONE = [NeedStatus.COMPLETED, NeedStatus.ACKNOWLEDGED]


@pytest.mark.parametrize(("incomes", "count"), [
    ([], 0),
    ([LINE - 1], 0),
    ([LINE], 1),
    ([LINE, LINE - 1], 0),
    ([LINE - 1, LINE, LINE + 1], 2),
    ([LINE, LINE - 1, LINE, LINE, LINE], 3),
])
def test_consecutive_count_is_of_the_latest_unbroken_reports(
    incomes: list[int], count: int
) -> None:
    assert consecutive_at_or_above(incomes, LINE) == count


def test_two_reports_at_the_line_do_not_graduate() -> None:
    assert not graduates([LINE, LINE], LINE, DONE, children_at_risk=0)


def test_three_reports_exactly_at_the_line_graduate() -> None:
    assert graduates([LINE, LINE, LINE], LINE, DONE, children_at_risk=0)


def test_three_reports_one_rupiah_under_the_line_do_not_graduate() -> None:
    assert not graduates([LINE - 1] * 3, LINE, DONE, children_at_risk=0)


def test_one_rupiah_short_in_the_middle_report_does_not_graduate() -> None:
    assert not graduates([LINE, LINE - 1, LINE], LINE, DONE, children_at_risk=0)


def test_an_earlier_poor_report_does_not_stop_three_good_ones() -> None:
    assert graduates([LINE - 1, LINE, LINE, LINE], LINE, [], children_at_risk=0)


def test_no_flagged_needs_means_nothing_to_resolve() -> None:
    assert graduates([LINE] * 3, LINE, [], children_at_risk=0)


@pytest.mark.parametrize("status", [NeedStatus.FLAGGED, NeedStatus.OPEN])
def test_an_unresolved_need_blocks_graduation(status: NeedStatus) -> None:
    assert not graduates([LINE] * 3, LINE, [NeedStatus.COMPLETED, status], children_at_risk=0)


def test_a_rejected_but_unacknowledged_need_blocks_graduation() -> None:
    assert not graduates([LINE] * 3, LINE, [NeedStatus.REJECTED], children_at_risk=0)


def test_a_rejected_and_acknowledged_need_counts_as_resolved() -> None:
    assert graduates([LINE] * 3, LINE, [NeedStatus.ACKNOWLEDGED], children_at_risk=0)


def test_a_child_at_dropout_risk_blocks_graduation() -> None:
    assert not graduates([LINE] * 3, LINE, DONE, children_at_risk=1)


@pytest.mark.parametrize(("on", "met", "day"), [
    (date(2025, 11, 28), [date(2025, 10, 28), date(2025, 7, 1)], date(2025, 11, 28)),
    # a completion dated 1 July arriving after October's third good report
    (date(2025, 7, 1), [date(2025, 10, 28), date(2025, 7, 1)], date(2025, 10, 28)),
    (date(2025, 9, 1), [date(2025, 10, 28)], date(2025, 10, 28)),  # a late, back-dated report
    (date(2025, 10, 28), [], date(2025, 10, 28)),
])
def test_a_household_graduates_no_earlier_than_the_records_it_rests_on(
    on: date, met: list[date], day: date
) -> None:
    assert graduation_date(on, met) == day
