"""What the chaos run left behind, read from the services' tables and the broker."""

import json
from collections import Counter, defaultdict
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts.catalogue import DEAD_LETTER_TOPICS
from services.demo.records import partitions_of, read_topics
from services.education.tables import attendance, pupils
from services.public_works.tables import tickets
from services.runtime.service import ServiceDefinition
from services.social.graduation import NeedStatus, graduates
from services.social.tables import dropout_risks, household_needs, households, income_reports
from services.timeline.tables import entries
from tests.chaos.census import ATTENDANCE_ROW, TICKET_ROW, Key

EMITTERS = ("social", "public_works", "education")


async def outbox(engine: AsyncEngine, services: dict[str, ServiceDefinition],
                 refs: list[str]) -> list[dict[str, Any]]:
    """Every event the agency services emitted for these households, in commit order."""
    rows = []
    async with engine.connect() as conn:
        for name in EMITTERS:
            table = services[name].tables.outbox
            for row in (await conn.execute(select(table).where(table.c.key.in_(refs)))).all():
                headers = dict(row.headers)
                rows.append(dict(service=name, id=row.id, event_id=row.event_id,
                                 type=headers["ce_type"],
                                 time=datetime.fromisoformat(headers["ce_time"]),
                                 data=json.loads(row.payload), sent=row.sent_at is not None))
    return sorted(rows, key=lambda r: (r["service"], r["id"]))


async def timeline(engine: AsyncEngine, refs: list[str]) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(entries).where(entries.c.household_ref.in_(refs)))
        return [dict(r) for r in rows.mappings().all()]


async def state(engine: AsyncEngine, refs: list[str]) -> dict[str, Counter[Key]]:
    """Stored attendance months and works tickets, by natural key."""
    async with engine.connect() as conn:
        months = await conn.execute(
            select(attendance.c.person_ref, attendance.c.month).join(
                pupils, pupils.c.person_ref == attendance.c.person_ref)
            .where(pupils.c.household_ref.in_(refs)))
        works = await conn.execute(select(tickets.c.household_ref, tickets.c.need)
                                   .where(tickets.c.household_ref.in_(refs)))
        return {ATTENDANCE_ROW: Counter(tuple(r) for r in months.all()),
                TICKET_ROW: Counter(tuple(r) for r in works.all())}


async def end_offsets(bootstrap: str) -> dict[Any, int]:
    partitions = await partitions_of(bootstrap, list(DEAD_LETTER_TOPICS))
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        return dict(await consumer.end_offsets(partitions))
    finally:
        await consumer.stop()


async def new_dead_letters(bootstrap: str, before: dict[Any, int]) -> list[Any]:
    records = await read_topics(bootstrap, list(DEAD_LETTER_TOPICS))
    return [r for r in records
            if r.offset >= before.get(TopicPartition(r.topic, r.partition), 0)]


async def graduation_faults(engine: AsyncEngine, outbox: list[dict[str, Any]], refs: list[str],
                            poverty_line: int) -> list[str]:
    """Graduates that did not meet the criteria in Dinsos's record (social's outbox, in
    commit order) when they graduated, and households meeting them now that never did."""
    faults = []
    social = defaultdict(list)
    for row in outbox:
        if row["service"] == "social":
            social[row["data"]["household_ref"]].append(row)
    reengaged = {r["data"]["risk_event_id"]: r["time"] for r in outbox
                 if r["type"] == "education.pupil.reengaged.v1"}
    for ref, events in social.items():
        kinds = [e["type"] for e in events]
        if "social.household.graduated.v1" not in kinds:
            continue
        at = kinds.index("social.household.graduated.v1")
        before, graduation = events[:at], events[at]
        incomes = [e["data"] for e in before if e["type"] == "social.income.reported.v1"][-3:]
        flagged = {n for e in before if e["type"] == "social.housing.flagged.v1"
                   for n in e["data"]["needs"]}
        resolved = {e["data"]["need"] for e in before if e["type"] == "social.housing.resolved.v1"}
        risks = [e["data"]["risk_event_id"] for e in before
                 if e["type"] == "social.case.follow_up_opened.v1"]
        if len(incomes) < 3 or any(i["monthly_income"] < i["poverty_line"] for i in incomes):
            faults.append(f"{ref} graduated without three reports at or above the line")
        if not flagged <= resolved:
            faults.append(f"{ref} graduated with needs {sorted(flagged - resolved)} open")
        if any(r not in reengaged or reengaged[r] > graduation["time"] for r in risks):
            faults.append(f"{ref} graduated with a child still at dropout risk")
    async with engine.connect() as conn:
        faults += [f"{ref} meets every criterion but never graduated"
                   for ref in await _eligible_not_graduated(conn, refs, poverty_line)]
    return faults


async def _eligible_not_graduated(conn: Any, refs: list[str], line: int) -> list[str]:
    open_refs = set((await conn.execute(select(households.c.household_ref).where(
        households.c.household_ref.in_(refs), households.c.graduated_on.is_(None)))).scalars())
    incomes: dict[str, list[int]] = defaultdict(list)
    needs: dict[str, list[NeedStatus]] = defaultdict(list)
    at_risk: Counter[str] = Counter()
    for row in await conn.execute(select(income_reports).where(
            income_reports.c.household_ref.in_(open_refs))
            .order_by(income_reports.c.reported_on)):
        incomes[row.household_ref].append(row.monthly_income)
    for row in await conn.execute(select(household_needs).where(
            household_needs.c.household_ref.in_(open_refs))):
        needs[row.household_ref].append(NeedStatus(row.status))
    for row in await conn.execute(select(dropout_risks.c.household_ref).where(
            dropout_risks.c.household_ref.in_(open_refs),
            dropout_risks.c.reengaged_event_id.is_(None))):
        at_risk[row.household_ref] += 1
    return sorted(r for r in open_refs if graduates(incomes[r], line, needs[r], at_risk[r]))
