"""Education handlers: enrolment from Dinsos referrals, attendance from school systems.

A second report for a month a pupil already has is refused as ``duplicate_month`` (to the
dead-letter topic, where an operator sees it) rather than dropped: it is a different
record from the school system, maybe a correction, and silence would hide it. A redelivery
of the same record is not a second report: the inbox drops it before this code runs. A
month earlier than one already recorded is refused as ``month_out_of_order``, since the
streak rule assumes each pupil's months arrive in calendar order. So a month later than the
report was sent (a typed 2052 for 2025) is refused first, as ``month_in_future``: recorded,
it would have put every true month after it out of order.
"""

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import select

from contracts.base import Contract
from contracts.codec import Event
from contracts.events.education import (
    AttendanceAlert,
    AttendanceReport,
    DropoutRisk,
    PupilEnrolled,
    PupilReengaged,
)
from contracts.events.social import EducationReferred
from contracts.regions import local_date
from services.education.rules import (
    MonthAttendance,
    attendance_pct,
    judge_month,
    level_for_age,
    month_after,
)
from services.education.tables import attendance, pupils
from services.runtime.consumer import Rejected
from services.runtime.unit_of_work import UnitOfWork

_ENROLLED = "education.enrolled"


async def enrol_children(event: Event[EducationReferred], uow: UnitOfWork) -> None:
    """Enrol each referred child not enrolled under this household before, at the level
    for its age. A child enrolled under another household moves to this one (a family card
    split): its later alerts and risks name the household it lives in now."""
    referral = event.data
    enrolled = uow.memo.get(_ENROLLED)
    for child in referral.children:
        level = level_for_age(child.age)
        if enrolled is not None:  # the batch's children were inserted by enrol_batch
            new = (event.envelope.id, child.person_ref) in enrolled
        else:
            new = bool(await uow.insert(pupils, [_pupil(event, child.person_ref, level.value)],
                                        _MOVE_ON_CONFLICT, returning="person_ref"))
        if not new:
            continue  # already enrolled under this household by an earlier referral
        await _emit(uow, PupilEnrolled(
            household_ref=referral.household_ref, person_ref=child.person_ref,
            region_code=referral.region_code, level=level,
        ), referral.household_ref, event.envelope.id)


async def enrol_batch(events: Sequence[Event[EducationReferred]], uow: UnitOfWork) -> None:
    """Insert every child of the batch's referrals at once; ``enrol_children`` then announces
    the ones a referral enrolled or moved (for a child in two referrals of one household,
    the earlier one). A child two households refer in one batch is left to
    ``enrol_children``, one referral after the other, so it moves as it would then."""
    rows: dict[str, dict[str, Any]] = {}
    for event in events:
        if not isinstance(event.data, EducationReferred):
            continue
        for child in event.data.children:
            level = level_for_age(child.age).value
            first = rows.setdefault(child.person_ref, _pupil(event, child.person_ref, level))
            if first["household_ref"] != event.data.household_ref:
                return
    inserted = {row[0] for row in await uow.insert(
        pupils, list(rows.values()), _MOVE_ON_CONFLICT, returning="person_ref")}
    uow.memo[_ENROLLED] = {(rows[p]["referral_event_id"], p) for p in inserted}


_MOVED = ("household_ref", "region_code", "level", "referral_event_id")
_MOVE_ON_CONFLICT = (
    "ON CONFLICT (person_ref) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in _MOVED)
    + f" WHERE {pupils.fullname}.household_ref <> EXCLUDED.household_ref"
    # Event ids are time-ordered: a referral older than the one enrolled (another
    # partition's, late) does not move the child back.
    + f" AND {pupils.fullname}.referral_event_id < EXCLUDED.referral_event_id")


def _pupil(event: Event[EducationReferred], person_ref: str, level: str) -> dict[str, Any]:
    referral = event.data
    return dict(person_ref=person_ref, household_ref=referral.household_ref,
                region_code=referral.region_code, level=level,
                referral_event_id=event.envelope.id)


async def record_attendance(event: Event[AttendanceReport], uow: UnitOfWork) -> None:
    """Record a pupil's month; alert, raise a dropout risk or re-engage as the rule says."""
    report = event.data
    ref = report.person_ref
    sent_on = local_date(event.envelope.time)  # the event's own date: a replay judges alike
    if month_after(report.month, sent_on):
        raise Rejected("month_in_future", f"{ref}: attendance for {report.month} sent on "
                       f"{sent_on.isoformat()} (WITA)")
    pupil = (
        await uow.conn.execute(
            select(pupils.c.household_ref, pupils.c.at_risk, pupils.c.risk_event_id)
            .where(pupils.c.person_ref == ref)
            .with_for_update()  # one pupil's months are judged one at a time
        )
    ).first()
    if pupil is None:
        raise Rejected("unknown_pupil", f"{ref} is not enrolled for PKH education support")
    months = (
        await uow.conn.execute(
            select(attendance.c.month, attendance.c.attendance_pct)
            .where(attendance.c.person_ref == ref)
            .order_by(attendance.c.month)
        )
    ).all()
    if any(m.month == report.month for m in months):
        raise Rejected("duplicate_month", f"{ref} already has attendance for {report.month}")
    if months and months[-1].month > report.month:
        raise Rejected("month_out_of_order",
                       f"{ref}: {report.month} reported after {months[-1].month}")

    pct = attendance_pct(report.days_present, report.school_days)
    history = [MonthAttendance(m.month, float(m.attendance_pct)) for m in months]
    verdict = judge_month([*history, MonthAttendance(report.month, pct)], pupil.at_risk)
    await uow.conn.execute(attendance.insert().values(
        person_ref=ref, month=report.month, school_days=report.school_days,
        days_present=report.days_present, attendance_pct=pct, report_event_id=event.envelope.id,
    ))

    household = pupil.household_ref
    fields = dict(household_ref=household, person_ref=ref, month=report.month,
                  attendance_pct=pct)
    if verdict.alert:
        alert = await _emit(uow, AttendanceAlert(**fields), household, event.envelope.id)
        if verdict.dropout_risk:
            risk = await _emit(uow, DropoutRisk(**fields, months_below=verdict.months_below),
                               household, alert)
            await _set_risk(uow, ref, at_risk=True, risk_event_id=risk)
    elif verdict.reengaged:
        await _emit(uow, PupilReengaged(**fields, risk_event_id=pupil.risk_event_id),
                    household, event.envelope.id)
        await _set_risk(uow, ref, at_risk=False, risk_event_id=pupil.risk_event_id)


async def _emit(uow: UnitOfWork, data: Contract, household_ref: str, cause: UUID) -> UUID:
    return await uow.emit(data, subject=household_ref, correlationid=household_ref,
                          causationid=cause)


async def _set_risk(uow: UnitOfWork, ref: str, *, at_risk: bool, risk_event_id: UUID) -> None:
    await uow.conn.execute(
        pupils.update().where(pupils.c.person_ref == ref)
        .values(at_risk=at_risk, risk_event_id=risk_event_id)
    )
