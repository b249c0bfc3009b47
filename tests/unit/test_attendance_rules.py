from datetime import date

import pytest

from contracts.events.education import SchoolLevel
from services.education.rules import (
    ATTENDANCE_THRESHOLD_PCT,
    MonthAttendance,
    Verdict,
    attendance_pct,
    is_below_threshold,
    judge_month,
    level_for_age,
    month_after,
    months_adjacent,
)

pytestmark = pytest.mark.unit


def months(*entries: tuple[str, float]) -> list[MonthAttendance]:
    return [MonthAttendance(month, pct) for month, pct in entries]


QUIET = Verdict(months_below=0, alert=False, dropout_risk=False, reengaged=False)


@pytest.mark.parametrize(
    ("age", "level"),
    [(7, SchoolLevel.SD), (12, SchoolLevel.SD), (13, SchoolLevel.SMP), (15, SchoolLevel.SMP),
     (16, SchoolLevel.SMA), (18, SchoolLevel.SMA)],
)
def test_level_follows_age_at_each_boundary(age: int, level: SchoolLevel) -> None:
    assert level_for_age(age) is level


@pytest.mark.parametrize("age", [6, 19])
def test_ages_outside_school_age_have_no_level(age: int) -> None:
    with pytest.raises(ValueError, match="outside school age"):
        level_for_age(age)


def test_attendance_pct_rounds_half_up_to_one_decimal() -> None:
    assert attendance_pct(17, 20) == 85.0
    assert attendance_pct(1, 16) == 6.3  # 6.25: half up, not to even
    assert attendance_pct(20, 23) == 87.0  # 86.956...
    assert attendance_pct(0, 20) == 0.0
    assert attendance_pct(22, 22) == 100.0


def test_more_days_present_than_school_days_is_refused() -> None:
    with pytest.raises(ValueError):
        attendance_pct(21, 20)


def test_exactly_85_is_not_under_the_threshold_and_84_9_is() -> None:
    assert ATTENDANCE_THRESHOLD_PCT == 85.0
    assert not is_below_threshold(85.0)
    assert is_below_threshold(84.9)


def test_no_school_month_rounds_across_the_threshold() -> None:
    for school_days in range(1, 32):
        for present in range(school_days + 1):
            exactly_below = present * 100 < 85 * school_days
            assert is_below_threshold(attendance_pct(present, school_days)) == exactly_below


@pytest.mark.parametrize(
    ("earlier", "later", "adjacent"),
    [("2026-01", "2026-02", True), ("2026-12", "2027-01", True), ("2026-01", "2026-03", False),
     ("2026-02", "2026-01", False), ("2026-01", "2026-01", False),
     ("2025-01", "2026-01", False)],
)
def test_months_are_adjacent_only_when_calendar_neighbours(
    earlier: str, later: str, adjacent: bool
) -> None:
    assert months_adjacent(earlier, later) is adjacent


def test_a_month_at_85_raises_nothing() -> None:
    assert judge_month(months(("2026-01", 85.0)), at_risk=False) == QUIET


def test_a_single_month_at_84_9_raises_an_alert_only() -> None:
    assert judge_month(months(("2026-01", 84.9)), at_risk=False) == Verdict(
        months_below=1, alert=True, dropout_risk=False, reengaged=False)


def test_second_consecutive_month_under_85_raises_the_dropout_risk() -> None:
    verdict = judge_month(months(("2026-01", 80.0), ("2026-02", 84.9)), at_risk=False)
    assert verdict == Verdict(months_below=2, alert=True, dropout_risk=True, reengaged=False)


def test_a_month_at_85_between_two_low_months_breaks_the_streak() -> None:
    history = months(("2026-01", 80.0), ("2026-02", 85.0), ("2026-03", 80.0))
    assert judge_month(history, at_risk=False).months_below == 1
    assert not judge_month(history, at_risk=False).dropout_risk


def test_the_streak_runs_across_the_year_end() -> None:
    verdict = judge_month(months(("2026-12", 70.0), ("2027-01", 70.0)), at_risk=False)
    assert verdict.dropout_risk and verdict.months_below == 2


def test_a_month_without_report_breaks_the_streak() -> None:
    verdict = judge_month(months(("2026-01", 70.0), ("2026-03", 70.0)), at_risk=False)
    assert verdict == Verdict(months_below=1, alert=True, dropout_risk=False, reengaged=False)


def test_a_streak_raises_its_dropout_risk_once_and_then_alerts_only() -> None:
    history = months(("2026-01", 70.0), ("2026-02", 70.0), ("2026-03", 70.0))
    assert judge_month(history, at_risk=True) == Verdict(
        months_below=3, alert=True, dropout_risk=False, reengaged=False)


def test_a_new_streak_after_a_gap_raises_a_new_dropout_risk() -> None:
    history = months(("2026-01", 70.0), ("2026-02", 70.0), ("2026-04", 70.0), ("2026-05", 70.0))
    assert judge_month(history, at_risk=True).dropout_risk


def test_first_month_at_85_after_a_risk_reengages_the_pupil() -> None:
    history = months(("2026-01", 70.0), ("2026-02", 70.0), ("2026-03", 85.0))
    assert judge_month(history, at_risk=True) == Verdict(
        months_below=0, alert=False, dropout_risk=False, reengaged=True)


def test_a_good_month_without_an_open_risk_reengages_nothing() -> None:
    history = months(("2026-01", 70.0), ("2026-02", 90.0))
    assert judge_month(history, at_risk=False) == QUIET


def test_a_month_at_84_9_after_a_risk_does_not_reengage() -> None:
    history = months(("2026-01", 70.0), ("2026-02", 70.0), ("2026-03", 84.9))
    verdict = judge_month(history, at_risk=True)
    assert not verdict.reengaged and verdict.alert


def test_judging_needs_the_month_being_judged() -> None:
    with pytest.raises(ValueError):
        judge_month([], at_risk=False)


@pytest.mark.parametrize(("month", "on", "after"), [
    ("2025-03", date(2025, 3, 1), False),  # the month in progress may be reported
    ("2025-03", date(2025, 4, 1), False),
    ("2025-04", date(2025, 3, 31), True),  # the last day of the month before
    ("2026-01", date(2025, 12, 31), True),  # across the year
    ("2025-12", date(2026, 1, 1), False),
    ("2052-01", date(2025, 2, 14), True),  # a typed 2052 for 2025
])
def test_a_month_not_begun_when_its_report_was_sent_is_after_it(
    month: str, on: date, after: bool
) -> None:
    assert month_after(month, on) is after
