"""Read-side queries over the timeline projection: the questions agency staff ask.

They read ``timeline.entries`` alone. The SLA queries are anti-joins that PostgreSQL runs as
hash anti-joins over the ``(type, time)`` index; the funnel is one pass over the same index.
"""

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Date, Text, and_, cast, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from contracts.base import HOUSEHOLD_REF_PATTERN
from contracts.regions import kaltim_regions
from services.timeline.tables import entries

REGISTERED = "social.household.registered.v1"
FLAGGED = "social.housing.flagged.v1"
RESOLVED = "social.housing.resolved.v1"
GRANT_AWARDED = "social.grant.awarded.v1"
GRADUATED = "social.household.graduated.v1"
FOLLOW_UP = "social.case.follow_up_opened.v1"
TICKET_OPENED = "public_works.ticket.opened.v1"
TICKET_CLOSED = ("public_works.ticket.completed.v1", "public_works.ticket.rejected.v1")
ENROLLED = "education.pupil.enrolled.v1"
DROPOUT_RISK = "education.dropout.risk.v1"

STAGES: dict[str, str] = {
    "registered": "registered", "flagged": "flagged", "housing_fixed": "housing fixed",
    "in_school": "in school", "grant": "grant", "graduated": "graduated",
}
"""Funnel stages in order, key -> label; a household counts at every stage it has reached."""


_HOUSEHOLD_REF = re.compile(HOUSEHOLD_REF_PATTERN)


def is_household_ref(text: str) -> bool:
    """``h-`` and 32 hex digits, as every household ref is minted."""
    return _HOUSEHOLD_REF.fullmatch(text) is not None  # re's $ also takes a final newline


async def household_timeline(conn: AsyncConnection, household_ref: str) -> list[dict[str, Any]]:
    """A household's entries, oldest first; none for text that is no household ref (it
    could hold a NUL byte, which PostgreSQL's text refuses)."""
    if not is_household_ref(household_ref):
        return []
    rows = await conn.execute(
        select(entries).where(entries.c.household_ref == household_ref)
        .order_by(entries.c.time, entries.c.event_id)
    )
    return [
        {
            "event_id": str(r.event_id), "time": r.time.isoformat(), "agency": r.agency,
            "type": r.type, "summary": r.summary,
            "causation_id": str(r.causation_id) if r.causation_id else None,
            "correlation_id": r.correlation_id, "data": r.data,
        }
        for r in rows
    ]


async def flags_without_ticket(
    conn: AsyncConnection, older_than: timedelta = timedelta(hours=24),
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Housing flags older than ``older_than`` (strictly) with a need no works ticket was
    opened for: ``needs`` are the flag's, ``needs_without_ticket`` those still waiting."""
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    flag, ticket = entries.alias("flag"), entries.alias("ticket")
    need = ticket.c.data["need"].astext
    ticketed = select(func.coalesce(func.array_agg(need.distinct()), cast([], ARRAY(Text)))).where(
        ticket.c.type == TICKET_OPENED, ticket.c.causation_id == flag.c.event_id
    ).scalar_subquery()
    waiting = func.jsonb_array_length(flag.c.data["needs"]) > func.cardinality(ticketed)
    rows = await conn.execute(
        select(flag, ticketed.label("ticketed"))
        .where(flag.c.type == FLAGGED, flag.c.time < now - older_than, waiting)
        .order_by(flag.c.time, flag.c.event_id)
    )
    return [
        {
            "event_id": str(r.event_id), "household_ref": r.household_ref,
            "region_code": r.region_code, "time": r.time.isoformat(),
            "hours_waiting": round((now - r.time).total_seconds() / 3600, 1),
            "needs": r.data.get("needs", []),
            "needs_without_ticket": [n for n in r.data.get("needs", []) if n not in r.ticketed],
        }
        for r in rows
    ]


async def tickets_past_due(conn: AsyncConnection, today: date) -> list[dict[str, Any]]:
    """Opened works tickets due before ``today`` with neither completion nor rejection."""
    opened, closing = entries.alias("opened"), entries.alias("closing")
    ticket_id = opened.c.data["ticket_id"].astext
    due_on = cast(opened.c.data["due_on"].astext, Date)
    closed = select(closing.c.event_id).where(
        closing.c.type.in_(TICKET_CLOSED), closing.c.data["ticket_id"].astext == ticket_id
    ).exists()
    rows = await conn.execute(
        select(opened, due_on.label("due_on"))
        .where(opened.c.type == TICKET_OPENED, due_on < today, ~closed)
        .order_by(due_on, ticket_id)
    )
    return [
        {
            "ticket_id": r.data["ticket_id"], "household_ref": r.household_ref,
            "region_code": r.region_code, "need": r.data.get("need"),
            "due_on": r.due_on.isoformat(), "days_overdue": (today - r.due_on).days,
            "opened_event_id": str(r.event_id), "opened_at": r.time.isoformat(),
        }
        for r in rows
    ]


async def risks_without_follow_up(conn: AsyncConnection) -> list[dict[str, Any]]:
    """Dropout risks that Dinsos has opened no case follow-up for."""
    risk, by_ref, by_cause = (entries.alias(n) for n in ("risk", "by_ref", "by_cause"))
    # Two NOT EXISTS rather than one with OR: each stays a hash anti-join.
    named = select(by_ref.c.event_id).where(
        by_ref.c.type == FOLLOW_UP,
        by_ref.c.data["risk_event_id"].astext == cast(risk.c.event_id, Text),
    ).exists()
    caused = select(by_cause.c.event_id).where(
        by_cause.c.type == FOLLOW_UP, by_cause.c.causation_id == risk.c.event_id
    ).exists()
    rows = await conn.execute(
        select(risk).where(risk.c.type == DROPOUT_RISK, ~named, ~caused)
        .order_by(risk.c.time, risk.c.event_id)
    )
    return [
        {
            "event_id": str(r.event_id), "household_ref": r.household_ref,
            "time": r.time.isoformat(), "person_ref": r.data.get("person_ref"),
            "month": r.data.get("month"), "attendance_pct": r.data.get("attendance_pct"),
            "months_below": r.data.get("months_below"),
        }
        for r in rows
    ]


def complete_funnel(counts: Mapping[str, Mapping[str, int]]) -> list[dict[str, Any]]:
    """Every kabupaten/kota in BPS code order, with zeros where ``counts`` has nothing."""
    return [
        {"region_code": code, "region_name": region.name,
         **{stage: int(counts.get(code, {}).get(stage, 0)) for stage in STAGES}}
        for code, region in sorted(kaltim_regions().items())
    ]


async def funnel(conn: AsyncConnection) -> list[dict[str, Any]]:
    """Distinct households per kabupaten/kota at each stage, placed by their registration."""
    e = entries.c
    reached = {
        "flagged": e.type == FLAGGED,
        "in_school": e.type == ENROLLED,
        "grant": e.type == GRANT_AWARDED,
        "graduated": e.type == GRADUATED,
    }
    # Fixed: a resolution left no need open after the last flag. A later flag (a
    # re-assessment finding a new need) reopens the household; both come from Dinsos's
    # clock, so their times compare.
    all_resolved = and_(e.type == RESOLVED, e.data["open_needs"].as_integer() == 0)
    fixed = (func.max(e.time).filter(all_resolved) > func.max(e.time).filter(e.type == FLAGGED))
    households = (
        select(
            # Social registers a household once; min() keeps this a hash aggregate, no sort.
            func.min(e.region_code).filter(e.type == REGISTERED).label("region_code"),
            *(func.bool_or(cond).label(stage) for stage, cond in reached.items()),
            fixed.label("housing_fixed"),
        )
        .where(e.type.in_((REGISTERED, FLAGGED, RESOLVED, ENROLLED, GRANT_AWARDED, GRADUATED)))
        .group_by(e.household_ref)
        .subquery()
    )
    h = households.c
    rows = await conn.execute(
        select(
            h.region_code, func.count().label("registered"),
            *(func.count().filter(h[stage]).label(stage) for stage in STAGES
              if stage != "registered"),
        )
        .where(h.region_code.is_not(None))  # not registered (yet): no region to count it in
        .group_by(h.region_code)
    )
    return complete_funnel({r.region_code: r._asdict() for r in rows})
