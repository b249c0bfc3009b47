"""Replaying the generated plans through the intake topics, month by month.

The simulation stands in for the agencies' own systems: the Dinsos case system (knows KK
numbers), the Public Works field system (learns ticket ids from the ticket topic) and the
school systems (learn pupil refs from the enrolments on the pupil topic).
"""

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from uuid import UUID

from aiokafka import AIOKafkaProducer
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts.base import Contract
from contracts.catalogue import EDUCATION_PUPIL, PUBLIC_WORKS_TICKET
from contracts.events.education import AttendanceReport
from contracts.events.intake import (
    BusinessStatus,
    GrantAward,
    IncomeReport,
    MentoringVisit,
    RejectionAcknowledgement,
)
from contracts.events.public_works import FieldStatus, TicketFieldUpdate
from services.demo.calendar import month_day, month_label
from services.demo.generator import MONTHS, HouseholdPlan, TicketPlan
from services.demo.quiesce import wait_until_drained
from services.demo.records import publish_record, read_topics
from services.runtime.service import ServiceDefinition
from services.social.pseudonym import household_ref, person_ref

DINSOS, PUPR, SCHOOLS = "dinsos-case-system", "pupr-field-system", "school-systems"
SCHOOL_DAYS = 20


@dataclass(frozen=True)
class Outgoing:
    data: Contract
    key: str
    source: str


@dataclass
class Simulation:
    bootstrap: str
    engine: AsyncEngine
    producer: AIOKafkaProducer
    definitions: list[ServiceDefinition]
    plans: list[HouseholdPlan]
    pseudonym_key: bytes
    start: date
    tickets: dict[tuple[str, str], UUID] = field(default_factory=dict)
    pupils: set[str] = field(default_factory=set)
    published: int = 0
    cases: dict[str, str] = field(default_factory=dict)
    """The Dinsos case system's case number of each KK number it has sent."""

    def subject(self, out: Outgoing) -> str:
        """What a record's envelope names: a Dinsos record its case number, never the KK
        number it is keyed by (the envelope's subject and correlation id are logged)."""
        if out.source != DINSOS:
            return out.key
        return self.cases.setdefault(out.key, f"CASE-{len(self.cases) + 1:06d}")

    def ref(self, plan: HouseholdPlan) -> str:
        return household_ref(self.pseudonym_key, plan.intake.kk_number)

    async def run(self, on_month: Callable[[int], None] = lambda m: None) -> None:
        await self._send(Outgoing(p.intake, p.intake.kk_number, DINSOS) for p in self.plans)
        await self._drain()
        await self._learn()
        on_month(0)
        for month in range(1, MONTHS + 1):
            records = [r for p in self.plans for r in self.month_records(p, month)]
            # The month's field and school reports are in before Dinsos's monthly review
            # (income, grants, visits): a graduation decided on an income report then
            # knows every dropout risk and completed ticket of the month. Sent together,
            # an income report could overtake an attendance report still on its way
            # through Education, as it could in the field.
            await self._send(r for r in records if r.source != DINSOS)
            await self._drain()
            await self._send(r for r in records if r.source == DINSOS)
            await self._drain()
            on_month(month)

    async def _send(self, outgoing: Iterator[Outgoing]) -> None:
        for out in outgoing:
            await publish_record(self.producer, out.data, key=out.key, source=out.source,
                                 subject=self.subject(out), wait=False)
            self.published += 1
        await self.producer.flush()

    async def _drain(self) -> None:
        await wait_until_drained(self.bootstrap, self.engine, self.definitions, within=600)

    async def _learn(self) -> None:
        """What the field and school systems know: ticket ids and enrolled pupils."""
        for record in await read_topics(self.bootstrap, [PUBLIC_WORKS_TICKET.name]):
            if dict(record.headers).get("ce_type") == b"public_works.ticket.opened.v1":
                data = json.loads(record.value)
                self.tickets[(data["household_ref"], data["need"])] = UUID(data["ticket_id"])
        for record in await read_topics(self.bootstrap, [EDUCATION_PUPIL.name]):
            if dict(record.headers).get("ce_type") == b"education.pupil.enrolled.v1":
                self.pupils.add(json.loads(record.value)["person_ref"])

    def month_records(self, plan: HouseholdPlan, month: int) -> Iterator[Outgoing]:
        kk = plan.intake.kk_number
        on = month_day(self.start, month, 28)
        for ticket in plan.tickets:
            yield from self._ticket_records(plan, ticket, month, on)
        if plan.grant and month == 1:
            yield Outgoing(GrantAward(kk_number=kk, amount=plan.grant.amount,
                                      business_type=plan.grant.business_type,
                                      mentor=plan.grant.mentor, awarded_on=on), kk, DINSOS)
        if plan.grant and month >= 2:
            income, before = plan.incomes[month - 1], plan.incomes[month - 2]
            status = BusinessStatus.GROWING if income > before else BusinessStatus.RUNNING
            yield Outgoing(MentoringVisit(kk_number=kk, business_status=status,
                                          monthly_revenue=income // 2, visited_on=on), kk, DINSOS)
        yield Outgoing(IncomeReport(kk_number=kk, monthly_income=plan.incomes[month - 1],
                                    reported_on=on), kk, DINSOS)
        for nik, months in plan.attendance.items():
            pupil = person_ref(self.pseudonym_key, nik)
            if pupil in self.pupils:
                present = round(months[month - 1] / 100 * SCHOOL_DAYS)
                yield Outgoing(AttendanceReport(person_ref=pupil,
                                                month=month_label(self.start, month),
                                                school_days=SCHOOL_DAYS, days_present=present),
                               pupil, SCHOOLS)

    def _ticket_records(self, plan: HouseholdPlan, ticket: TicketPlan, month: int,
                        on: date) -> Iterator[Outgoing]:
        ticket_id = self.tickets.get((self.ref(plan), ticket.need.value))
        if ticket_id is None:
            return
        final = FieldStatus.REJECTED if ticket.rejection else FieldStatus.COMPLETED
        steps = ((ticket.scheduled, FieldStatus.SCHEDULED),
                 (ticket.started, FieldStatus.IN_PROGRESS), (ticket.done, final))
        for step_month, status in steps:
            if step_month == month:
                reason = ticket.rejection if status is FieldStatus.REJECTED else None
                yield Outgoing(TicketFieldUpdate(ticket_id=ticket_id, status=status, on=on,
                                                 reason=reason), str(ticket_id), PUPR)
        if ticket.rejection and month == ticket.done + 1:
            kk = plan.intake.kk_number
            yield Outgoing(RejectionAcknowledgement(kk_number=kk, ticket_id=ticket_id,
                                                    acknowledged_on=on), kk, DINSOS)

