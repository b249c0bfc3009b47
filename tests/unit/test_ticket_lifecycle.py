"""Ticket lifecycle rules, lateness and the due-days setting, at every boundary."""

from datetime import date, timedelta

import pytest

from contracts.events.public_works import FieldStatus
from contracts.events.social import HousingNeed
from services.public_works.config import DueDaysError, parse_due_days
from services.public_works.lifecycle import InvalidTransition, TicketStatus, is_late, next_status
from services.public_works.rules import DEFAULT_DUE_DAYS, due_days_with

pytestmark = pytest.mark.unit

S = TicketStatus
F = FieldStatus

ALLOWED = [
    (S.OPENED, F.SCHEDULED, S.SCHEDULED),
    (S.SCHEDULED, F.IN_PROGRESS, S.IN_PROGRESS),
    (S.IN_PROGRESS, F.COMPLETED, S.COMPLETED),
    (S.OPENED, F.REJECTED, S.REJECTED),
    (S.SCHEDULED, F.REJECTED, S.REJECTED),
    (S.IN_PROGRESS, F.REJECTED, S.REJECTED),
]
REPEATED = [(S.SCHEDULED, F.SCHEDULED), (S.IN_PROGRESS, F.IN_PROGRESS),
            (S.COMPLETED, F.COMPLETED), (S.REJECTED, F.REJECTED)]
REFUSED = [
    (S.OPENED, F.IN_PROGRESS),  # skips scheduling
    (S.OPENED, F.COMPLETED),
    (S.SCHEDULED, F.COMPLETED),  # skips the work
    (S.IN_PROGRESS, F.SCHEDULED),  # backwards
    (S.COMPLETED, F.SCHEDULED),
    (S.COMPLETED, F.IN_PROGRESS),
    (S.COMPLETED, F.REJECTED),
    (S.REJECTED, F.SCHEDULED),
    (S.REJECTED, F.IN_PROGRESS),
    (S.REJECTED, F.COMPLETED),
]


def ids(cases: list[tuple]) -> list[str]:
    return [f"{c[0].value}->{c[1].value}" for c in cases]


@pytest.mark.parametrize(("current", "update", "expected"), ALLOWED, ids=ids(ALLOWED))
def test_allowed_transition_moves_the_ticket(
    current: TicketStatus, update: FieldStatus, expected: TicketStatus
) -> None:
    assert next_status(current, update) is expected


@pytest.mark.parametrize(("current", "update"), REPEATED, ids=ids(REPEATED))
def test_repeated_status_is_a_harmless_no_op(current: TicketStatus, update: FieldStatus) -> None:
    assert next_status(current, update) is current


@pytest.mark.parametrize(("current", "update"), REFUSED, ids=ids(REFUSED))
def test_disallowed_transition_is_refused_naming_both_ends(
    current: TicketStatus, update: FieldStatus
) -> None:
    with pytest.raises(InvalidTransition) as refused:
        next_status(current, update)
    assert str(refused.value) == f"{current.value} -> {update.value}"


def test_the_cases_above_cover_every_status_and_update() -> None:
    covered = {(c[0], c[1]) for c in ALLOWED} | set(REPEATED) | set(REFUSED)
    assert covered == {(s, f) for s in TicketStatus for f in FieldStatus}


@pytest.mark.parametrize("final", [S.COMPLETED, S.REJECTED])
def test_nothing_leaves_a_final_status(final: TicketStatus) -> None:
    for update in FieldStatus:
        if update.value != final.value:
            with pytest.raises(InvalidTransition):
                next_status(final, update)


def test_completion_on_the_due_date_is_on_time() -> None:
    assert not is_late(date(2025, 3, 1), due_on=date(2025, 3, 1))


def test_completion_one_day_after_the_due_date_is_late() -> None:
    assert is_late(date(2025, 3, 2), due_on=date(2025, 3, 1))


def test_completion_before_the_due_date_is_on_time() -> None:
    due = date(2025, 3, 1)
    assert not is_late(due - timedelta(days=1), due_on=due)


def test_due_days_parse_every_work_type() -> None:
    assert parse_due_days("clean_water_connection=60,sanitation=45,house_rehabilitation=120") == {
        HousingNeed.CLEAN_WATER: 60, HousingNeed.SANITATION: 45,
        HousingNeed.HOUSE_REHABILITATION: 120,
    }


def test_due_days_tolerate_spaces_around_entries() -> None:
    assert parse_due_days(" sanitation = 30 , clean_water_connection=7 ") == {
        HousingNeed.SANITATION: 30, HousingNeed.CLEAN_WATER: 7,
    }


@pytest.mark.parametrize("blank", ["", "   "])
def test_blank_due_days_override_nothing(blank: str) -> None:
    assert parse_due_days(blank) == {}
    assert due_days_with(parse_due_days(blank)) == DEFAULT_DUE_DAYS


def test_one_day_is_the_shortest_due_time() -> None:
    assert parse_due_days("sanitation=1") == {HousingNeed.SANITATION: 1}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sanitation=0", "at least 1"),
        ("sanitation=-5", "at least 1"),
        ("sanitation=4.5", "whole number"),
        ("sanitation=", "whole number"),
        ("sanitation=forty", "whole number"),
        ("sanitation", "need=days"),
        ("=45", "need=days"),
        ("sanitation=45,", "need=days"),
        ("water=60", "unknown work type 'water'; known: clean_water_connection"),
        ("sanitation=45,sanitation=30", "given twice"),
    ],
)
def test_malformed_due_days_are_refused_saying_why(text: str, message: str) -> None:
    with pytest.raises(DueDaysError, match=message):
        parse_due_days(text)


def test_configured_due_days_replace_only_the_defaults_they_name() -> None:
    merged = due_days_with({HousingNeed.SANITATION: 30})
    assert merged == {**DEFAULT_DUE_DAYS, HousingNeed.SANITATION: 30}
    assert DEFAULT_DUE_DAYS[HousingNeed.SANITATION] == 45  # the defaults stay untouched
