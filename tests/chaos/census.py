"""Counting effects by what they are about (their natural key), against what the plans imply.

An effect is an event a service emitted (its outbox row) or projected (a timeline entry).
Its natural key says which real-world thing it is about: a ticket is about one need of one
household, an enrolment about one child. Two effects with one natural key are a duplicate;
an expected key with no effect is a loss.
"""

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from services.demo.calendar import month_day, month_label
from services.demo.generator import MONTHS, HouseholdPlan
from services.demo.simulation import SCHOOL_DAYS
from services.education.rules import MonthAttendance, attendance_pct, judge_month
from services.social.empowerment import grant_eligible, school_age_children
from services.social.pseudonym import household_ref, person_ref

Key = tuple[str, ...]
Data = dict[str, Any]


def _by(*fields: str) -> Callable[[Data], list[Key]]:
    return lambda data: [tuple(str(data[f]) for f in fields)]


def _children(data: Data) -> list[Key]:
    return [(data["household_ref"], c["person_ref"]) for c in data["children"]]


HOUSEHOLD, TICKET = _by("household_ref"), _by("household_ref", "need")
NATURAL_KEYS: dict[str, Callable[[Data], list[Key]]] = {
    "social.household.registered.v1": HOUSEHOLD,
    "social.housing.assessed.v1": HOUSEHOLD,
    "social.housing.flagged.v1": HOUSEHOLD,
    "social.education.referred.v1": _children,
    "social.grant.eligible.v1": HOUSEHOLD,
    "social.grant.awarded.v1": HOUSEHOLD,
    "social.mentoring.visited.v1": _by("household_ref", "visited_on"),
    "social.income.reported.v1": _by("household_ref", "reported_on"),
    "social.housing.resolved.v1": TICKET,
    "social.case.follow_up_opened.v1": _by("risk_event_id"),
    "social.household.graduated.v1": HOUSEHOLD,
    "public_works.ticket.opened.v1": TICKET,
    "public_works.ticket.scheduled.v1": TICKET,
    "public_works.ticket.started.v1": TICKET,
    "public_works.ticket.completed.v1": TICKET,
    "public_works.ticket.rejected.v1": TICKET,
    "education.pupil.enrolled.v1": _by("person_ref"),
    "education.attendance.alert.v1": _by("person_ref", "month"),
    "education.dropout.risk.v1": _by("person_ref", "month"),
    "education.pupil.reengaged.v1": _by("person_ref", "month"),
}
ATTENDANCE_ROW, TICKET_ROW = "education.attendance row", "public_works.tickets row"
"""State, not events: a month of attendance recorded, a works ticket stored."""
UNPLANNED = frozenset({"social.household.graduated.v1"})
"""Kinds whose presence the plans do not fix (graduation depends on timing): checked for
duplicates here and against the graduation criteria elsewhere."""


def tally(events: Iterable[tuple[str, Data]]) -> dict[str, Counter[Key]]:
    """Effects per kind and natural key."""
    counts: dict[str, Counter[Key]] = {kind: Counter() for kind in NATURAL_KEYS}
    for kind, data in events:
        counts.setdefault(kind, Counter()).update(NATURAL_KEYS.get(kind, _by("event_id"))(data))
    return counts


def expected_effects(plans: list[HouseholdPlan], key: bytes, poverty_line: int,
                     start: date) -> dict[str, set[Key]]:
    """What a year of these plans must produce, each exactly once (graduation aside)."""
    out: dict[str, set[Key]] = {kind: set() for kind in NATURAL_KEYS if kind not in UNPLANNED}
    out[ATTENDANCE_ROW] = set()
    for plan in plans:
        intake = plan.intake
        ref = household_ref(key, intake.kk_number)
        out["social.household.registered.v1"].add((ref,))
        out["social.housing.assessed.v1"].add((ref,))
        if plan.tickets:
            out["social.housing.flagged.v1"].add((ref,))
        for ticket in plan.tickets:
            need = (ref, ticket.need.value)
            for kind in ("opened", "scheduled", "started",
                         "rejected" if ticket.rejection else "completed"):
                out[f"public_works.ticket.{kind}.v1"].add(need)
            out["social.housing.resolved.v1"].add(need)
        pupils = {m.nik: person_ref(key, m.nik) for m, _ in school_age_children(intake)}
        for pupil in pupils.values():
            out["social.education.referred.v1"].add((ref, pupil))
            out["education.pupil.enrolled.v1"].add((pupil,))
        if grant_eligible(intake, poverty_line):
            out["social.grant.eligible.v1"].add((ref,))
        if plan.grant:
            out["social.grant.awarded.v1"].add((ref,))
            for month in range(2, MONTHS + 1):
                out["social.mentoring.visited.v1"].add((ref, str(month_day(start, month, 28))))
        for month in range(1, MONTHS + 1):
            out["social.income.reported.v1"].add((ref, str(month_day(start, month, 28))))
        for nik, months in plan.attendance.items():
            if nik in pupils:
                _expect_attendance(out, pupils[nik], months, start)
                out[ATTENDANCE_ROW] |= {(pupils[nik], month_label(start, m))
                                        for m in range(1, MONTHS + 1)}
    out[TICKET_ROW] = set(out["public_works.ticket.opened.v1"])
    return out


def _expect_attendance(out: dict[str, set[Key]], pupil: str, months: list[float],
                       start: date) -> None:
    """Replays the attendance rule over the months the school systems report."""
    history: list[MonthAttendance] = []
    at_risk = False
    for month, pct in enumerate(months, start=1):
        present = round(pct / 100 * SCHOOL_DAYS)
        label = month_label(start, month)
        history.append(MonthAttendance(label, attendance_pct(present, SCHOOL_DAYS)))
        verdict = judge_month(history, at_risk)
        if verdict.alert:
            out["education.attendance.alert.v1"].add((pupil, label))
        if verdict.dropout_risk:
            out["education.dropout.risk.v1"].add((pupil, label))
            at_risk = True
        elif verdict.reengaged:
            out["education.pupil.reengaged.v1"].add((pupil, label))
            at_risk = False


@dataclass
class Comparison:
    lost: Counter[str] = field(default_factory=Counter)
    duplicated: Counter[str] = field(default_factory=Counter)
    unexpected: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)


def compare(expected: dict[str, set[Key]], actual: dict[str, Counter[Key]],
            into: Comparison, source: str) -> Comparison:
    """Losses, duplicates and unexpected effects of ``actual`` against ``expected``."""
    for kind in sorted(set(actual) | set(expected)):
        counts = actual.get(kind, Counter())
        for natural, n in counts.items():
            if n > 1:
                into.duplicated[kind] += n - 1
                into.examples.append(f"{source}: {n} x {kind} {natural}")
        wanted = expected.get(kind)
        if wanted is None:
            continue
        missing, extra = wanted - set(counts), set(counts) - wanted
        into.lost[kind] += len(missing)
        into.unexpected[kind] += len(extra)
        into.examples += [f"{source}: no {kind} {k}" for k in sorted(missing)[:3]]
        into.examples += [f"{source}: unexpected {kind} {k}" for k in sorted(extra)[:3]]
    return into
