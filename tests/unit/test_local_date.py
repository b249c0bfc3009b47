"""Dates staff would write are WITA dates (UTC+8), whatever the server's clock says."""

from datetime import UTC, date, datetime

import pytest

from contracts.regions import local_date

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("moment", "day"), [
    (datetime(2026, 3, 4, 15, 59, 59, tzinfo=UTC), date(2026, 3, 4)),  # 23:59:59 WITA
    (datetime(2026, 3, 4, 16, 0, tzinfo=UTC), date(2026, 3, 5)),  # midnight WITA
    (datetime(2026, 12, 31, 16, 0, tzinfo=UTC), date(2027, 1, 1)),
])
def test_the_day_changes_at_midnight_in_east_kalimantan_not_at_midnight_utc(
    moment: datetime, day: date
) -> None:
    assert local_date(moment) == day
