"""The timeline's SLA and funnel queries and their HTTP API, on real PostgreSQL (and Kafka).

Most tests write entries straight into ``timeline.entries`` through the projection's own
handler (``record_entry``), so they control event times exactly; one test publishes to the
agency topics and lets the running timeline service project them. Other tests' rows share
the table, so each test looks only at its own households (or at funnel deltas).
"""

from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid4

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from contracts.base import Contract
from contracts.catalogue import spec_for
from contracts.codec import Event, encode
from contracts.envelope import new_envelope
from contracts.events import education as edu
from contracts.events import public_works as pw
from contracts.events import social
from contracts.events.social import HousingNeed, Resolution
from contracts.regions import kaltim_regions, local_date
from services.cli.reports import reports_app
from services.runtime.auth import parse_tokens
from services.runtime.settings import Settings
from services.runtime.unit_of_work import UnitOfWork
from services.timeline.api import create_app
from services.timeline.handlers import record_entry
from services.timeline.queries import (
    STAGES,
    flags_without_ticket,
    funnel,
    household_timeline,
    risks_without_follow_up,
    tickets_past_due,
)
from services.timeline.tables import TABLES as TIMELINE
from tests.support import running, until

pytestmark = pytest.mark.integration

WATER = HousingNeed.CLEAN_WATER


def new_ref(kind: str = "h") -> str:
    return f"{kind}-{uuid4().hex}"


def event(data: Contract, ref: str, at: datetime | None = None,
          cause: UUID | None = None) -> Event:
    envelope = new_envelope(type=spec_for(type(data)).type, source="test", subject=ref,
                            correlationid=ref, causationid=cause, time=at)
    return Event(envelope, data)


async def project(engine: AsyncEngine, *events: Event) -> None:
    """Write entries as the timeline's handler does, without going through Kafka."""
    async with UnitOfWork(engine, TIMELINE, "sinergi/timeline") as uow:
        for e in events:
            await record_entry(e, uow)
        await uow.commit()


def registered(ref: str, region: str) -> social.HouseholdRegistered:
    return social.HouseholdRegistered(household_ref=ref, region_code=region, member_count=4,
                                      registered_on=date(2025, 1, 6))


def flagged(ref: str, region: str = "6472") -> social.HousingFlagged:
    return social.HousingFlagged(household_ref=ref, region_code=region, village="Loa Janan",
                                 needs=[WATER])


def opened(ref: str, flag_id: UUID, due: date, ticket_id: UUID | None = None
           ) -> pw.WorksTicketOpened:
    return pw.WorksTicketOpened(ticket_id=ticket_id or uuid4(), household_ref=ref,
                                region_code="6472", need=WATER, flag_event_id=flag_id,
                                due_on=due)


def resolved(ref: str, region: str, open_needs: int) -> social.HousingNeedResolved:
    return social.HousingNeedResolved(household_ref=ref, region_code=region, need=WATER,
                                      ticket_id=uuid4(), resolution=Resolution.COMPLETED,
                                      open_needs=open_needs)


def enrolled(ref: str, region: str) -> edu.PupilEnrolled:
    return edu.PupilEnrolled(household_ref=ref, person_ref=new_ref("p"), region_code=region,
                             level=edu.SchoolLevel.SD)


def risk(ref: str) -> edu.DropoutRisk:
    return edu.DropoutRisk(household_ref=ref, person_ref=new_ref("p"), month="2025-03",
                           attendance_pct=70.0, months_below=2)


def follow_up(ref: str, risk_id: UUID) -> social.FollowUpOpened:
    return social.FollowUpOpened(household_ref=ref, person_ref=new_ref("p"), risk_event_id=risk_id)


async def test_flag_is_late_only_when_older_than_24_hours_and_no_ticket_was_caused_by_it(
    engine: AsyncEngine,
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    day = timedelta(hours=24)
    ref = new_ref()
    exactly = event(flagged(ref), ref, at=now - day)
    just_over = event(flagged(ref), ref, at=now - day - timedelta(seconds=1))
    house = new_ref()  # two flags of one household; only the first got a ticket
    served = event(flagged(house), house, at=now - 2 * day)
    unserved = event(flagged(house), house, at=now - 2 * day)
    ticket = event(opened(house, served.envelope.id, date(2025, 3, 1)), house, at=now - day,
                   cause=served.envelope.id)
    await project(engine, exactly, just_over, served, unserved, ticket)
    mine = {e.envelope.id for e in (exactly, just_over, served, unserved)}

    async with engine.connect() as conn:
        late = [f for f in await flags_without_ticket(conn, day, now)
                if UUID(f["event_id"]) in mine]
        within_three_days = [f for f in await flags_without_ticket(conn, 3 * day, now)
                             if UUID(f["event_id"]) in mine]

    assert [UUID(f["event_id"]) for f in late] == [unserved.envelope.id, just_over.envelope.id]
    assert late[1]["hours_waiting"] == 24.0
    assert late[0]["household_ref"] == house and late[0]["needs"] == [WATER.value]
    assert late[0]["needs_without_ticket"] == [WATER.value]
    assert within_three_days == []


async def test_a_flag_with_a_ticket_for_one_need_but_not_another_is_still_late(
    engine: AsyncEngine,
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    ref = new_ref()
    both = social.HousingFlagged(household_ref=ref, region_code="6472", village="Loa Janan",
                                 needs=[WATER, HousingNeed.SANITATION])
    flag = event(both, ref, at=now - timedelta(days=2))
    water = event(opened(ref, flag.envelope.id, date(2025, 3, 1)), ref, at=now - timedelta(days=2),
                  cause=flag.envelope.id)
    await project(engine, flag, water)
    async with engine.connect() as conn:
        late = [f for f in await flags_without_ticket(conn, now=now) if f["household_ref"] == ref]
    assert [(f["needs"], f["needs_without_ticket"]) for f in late] == [
        ([WATER.value, HousingNeed.SANITATION.value], [HousingNeed.SANITATION.value])]


async def test_ticket_due_today_is_not_past_due_but_one_due_yesterday_is_until_closed(
    engine: AsyncEngine,
) -> None:
    today = date(2031, 5, 10)
    yesterday = today - timedelta(days=1)
    ref = new_ref()
    flag = event(flagged(ref), ref)
    due_today, overdue, only_started, completed, rejected = (
        opened(ref, flag.envelope.id, due) for due in (today, yesterday, yesterday,
                                                        yesterday, today - timedelta(days=30))
    )
    common = dict(household_ref=ref, region_code="6472", need=WATER)
    closing = [
        pw.WorksTicketStarted(ticket_id=only_started.ticket_id, started_on=yesterday, **common),
        pw.WorksTicketCompleted(ticket_id=completed.ticket_id, completed_on=today, late=True,
                                **common),
        pw.WorksTicketRejected(ticket_id=rejected.ticket_id, rejected_on=yesterday,
                               reason=pw.RejectionReason.DUPLICATE, **common),
    ]
    await project(engine, flag, *(event(t, ref, cause=flag.envelope.id) for t in
                                  (due_today, overdue, only_started, completed, rejected)),
                  *(event(c, ref) for c in closing))

    async with engine.connect() as conn:
        past_due = [t for t in await tickets_past_due(conn, today) if t["household_ref"] == ref]
        on_due_day = [t for t in await tickets_past_due(conn, yesterday)
                      if t["household_ref"] == ref]

    assert sorted(UUID(t["ticket_id"]) for t in past_due) == sorted(
        [overdue.ticket_id, only_started.ticket_id])
    assert {t["days_overdue"] for t in past_due} == {1}
    assert past_due[0]["due_on"] == yesterday.isoformat() and past_due[0]["need"] == WATER.value
    assert on_due_day == []


async def test_dropout_risk_is_listed_until_a_follow_up_names_it_or_is_caused_by_it(
    engine: AsyncEngine,
) -> None:
    ref = new_ref()
    named, caused, ignored, answered_elsewhere = (event(risk(ref), ref) for _ in range(4))
    answers = [
        event(follow_up(ref, named.envelope.id), ref, cause=named.envelope.id),
        event(follow_up(ref, uuid4()), ref, cause=caused.envelope.id),
        event(follow_up(ref, uuid4()), ref, cause=uuid4()),  # answers some other risk
    ]
    await project(engine, named, caused, ignored, answered_elsewhere, *answers)

    async with engine.connect() as conn:
        open_risks = [r for r in await risks_without_follow_up(conn) if r["household_ref"] == ref]

    assert [UUID(r["event_id"]) for r in open_risks] == [ignored.envelope.id,
                                                         answered_elsewhere.envelope.id]
    assert open_risks[0]["months_below"] == 2 and open_risks[0]["person_ref"].startswith("p-")


def by_code(rows: list[dict]) -> dict[str, dict]:
    return {r["region_code"]: r for r in rows}


async def test_funnel_counts_distinct_households_in_the_region_they_registered_in(
    engine: AsyncEngine,
) -> None:
    one, two, three, unregistered = (new_ref() for _ in range(4))
    entries = [
        event(registered(one, "6411"), one), event(flagged(one, "6411"), one),
        event(flagged(one, "6411"), one), event(resolved(one, "6411", 1), one),
        event(resolved(one, "6411", 0), one), event(enrolled(one, "6411"), one),
        event(enrolled(one, "6474"), one),  # another child; the household stays in 6411
        event(social.GrantAwarded(household_ref=one, region_code="6411", amount=5_000_000,
                                  business_type="warung", mentor="Bu Sari",
                                  awarded_on=date(2025, 2, 1)), one),
        event(social.HouseholdGraduated(household_ref=one, region_code="6411",
                                        graduated_on=date(2025, 9, 1),
                                        consecutive_reports_at_or_above_line=3,
                                        bansos_ended=True), one),
        event(registered(two, "6411"), two), event(flagged(two, "6411"), two),
        event(resolved(two, "6411", 1), two),
        event(registered(three, "6474"), three),
        event(flagged(unregistered, "6411"), unregistered),
        event(enrolled(unregistered, "6411"), unregistered),
    ]
    async with engine.connect() as conn:
        before = by_code(await funnel(conn))
    await project(engine, *entries)
    async with engine.connect() as conn:
        after_rows = await funnel(conn)
    after = by_code(after_rows)

    assert [(r["region_code"], r["region_name"]) for r in after_rows] == [
        (code, region.name) for code, region in sorted(kaltim_regions().items())]
    delta = {code: {s: after[code][s] - before[code][s] for s in STAGES} for code in after}
    assert delta["6411"] == {"registered": 2, "flagged": 2, "housing_fixed": 1,
                             "in_school": 1, "grant": 1, "graduated": 1}
    assert delta["6474"] == {"registered": 1, "flagged": 0, "housing_fixed": 0,
                             "in_school": 0, "grant": 0, "graduated": 0}
    assert all(n == 0 for code, d in delta.items() if code not in ("6411", "6474")
               for n in d.values())


async def test_a_need_flagged_after_the_household_was_fixed_reopens_it_in_the_funnel(
    engine: AsyncEngine,
) -> None:
    fixed, reopened = new_ref(), new_ref()
    t0 = datetime(2025, 2, 1, tzinfo=UTC)
    entries = []
    for ref in (fixed, reopened):
        entries += [event(registered(ref, "6409"), ref, t0),
                    event(flagged(ref, "6409"), ref, t0 + timedelta(days=1)),
                    event(resolved(ref, "6409", 0), ref, t0 + timedelta(days=30))]
    later = social.HousingFlagged(household_ref=reopened, region_code="6409",
                                  village="Loa Janan", needs=[HousingNeed.SANITATION])
    entries.append(event(later, reopened, t0 + timedelta(days=60)))  # a re-assessment
    async with engine.connect() as conn:
        before = by_code(await funnel(conn))["6409"]
    await project(engine, *entries)
    async with engine.connect() as conn:
        after = by_code(await funnel(conn))["6409"]

    assert {s: after[s] - before[s] for s in ("registered", "flagged", "housing_fixed")} == {
        "registered": 2, "flagged": 2, "housing_fixed": 1}


def client(engine: AsyncEngine) -> httpx.AsyncClient:
    token = parse_tokens(Settings().api_tokens.get_secret_value())["operators"]
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(engine)),
                             base_url="http://timeline",
                             headers={"Authorization": f"Bearer {token}"})


async def test_sla_endpoints_report_breaches_and_refuse_bad_parameters(
    engine: AsyncEngine,
) -> None:
    now = datetime.now(UTC)
    ref = new_ref()
    old_flag = event(flagged(ref), ref, at=now - timedelta(hours=2))
    new_flag = event(flagged(ref), ref, at=now - timedelta(minutes=30))
    due = now.date() - timedelta(days=1)
    ticket = opened(ref, new_flag.envelope.id, due)
    dropout = event(risk(ref), ref)
    await project(engine, old_flag, new_flag, event(ticket, ref, cause=uuid4()), dropout)

    async with client(engine) as http:
        one_hour = (await http.get("/sla/flags-without-ticket", params={"hours": 1})).json()
        default = (await http.get("/sla/flags-without-ticket")).json()
        tickets = (await http.get("/sla/tickets-past-due")).json()
        on_due_day = (await http.get("/sla/tickets-past-due",
                                     params={"today": due.isoformat()})).json()
        risks = (await http.get("/sla/risks-without-follow-up")).json()
        refused = [
            await http.get("/sla/flags-without-ticket", params={"hours": -1}),
            await http.get("/sla/flags-without-ticket", params={"hours": "a day"}),
            await http.get("/sla/tickets-past-due", params={"today": "2025-13-01"}),
        ]

    assert [f["event_id"] for f in one_hour["flags"] if f["household_ref"] == ref] == [
        str(old_flag.envelope.id)]
    assert one_hour["older_than_hours"] == 1 and one_hour["count"] == len(one_hour["flags"])
    assert default["older_than_hours"] == 24
    assert [f for f in default["flags"] if f["household_ref"] == ref] == []
    assert [t["ticket_id"] for t in tickets["tickets"] if t["household_ref"] == ref] == [
        str(ticket.ticket_id)]
    assert tickets["today"] == local_date(now).isoformat()  # WITA
    assert [t for t in on_due_day["tickets"] if t["household_ref"] == ref] == []
    assert [r["event_id"] for r in risks["risks"] if r["household_ref"] == ref] == [
        str(dropout.envelope.id)]
    assert risks["count"] == len(risks["risks"])
    assert [r.status_code for r in refused] == [422, 422, 422]
    assert refused[0].json()["detail"][0]["loc"] == ["query", "hours"]


async def test_funnel_and_timeline_endpoints_answer_with_their_documented_shapes(
    engine: AsyncEngine,
) -> None:
    ref = new_ref()
    await project(engine, event(registered(ref, "6403"), ref))

    async with client(engine) as http:
        body = (await http.get("/funnel")).json()
        timeline = await http.get(f"/households/{ref}/timeline")
        unknown = await http.get(f"/households/{new_ref()}/timeline")

    assert body["stages"] == list(STAGES)
    assert [r["region_code"] for r in body["regions"]] == sorted(kaltim_regions())
    assert body["totals"] == {s: sum(r[s] for r in body["regions"]) for s in STAGES}
    assert by_code(body["regions"])["6403"]["registered"] >= 1
    [entry] = timeline.json()["entries"]
    assert entry["data"] == {"household_ref": ref, "region_code": "6403", "member_count": 4,
                             "registered_on": "2025-01-06"}
    assert unknown.status_code == 404


async def test_running_timeline_service_projects_agency_events_into_the_sla_answers(
    stack_settings: Settings, engine: AsyncEngine, producer
) -> None:
    now = datetime.now(UTC)
    ref = new_ref()
    flag = event(flagged(ref), ref, at=now - timedelta(hours=25))
    unserved = event(flagged(ref), ref, at=now - timedelta(hours=30))
    ticket = opened(ref, flag.envelope.id, now.date() - timedelta(days=3))
    dropout = event(risk(ref), ref)
    published = [event(registered(ref, "6402"), ref), flag, unserved,
                 event(ticket, ref, cause=flag.envelope.id), dropout]
    for e in published:
        headers, value = encode(e.envelope, e.data)
        await producer.send_and_wait(spec_for(type(e.data)).topic, value=value,
                                     key=ref.encode(), headers=headers)

    async def projected() -> bool:
        async with engine.connect() as conn:
            return len(await household_timeline(conn, ref)) == len(published)

    async with running(stack_settings, engine, "timeline"):
        await until(projected, what="the timeline service projecting all five events")
    async with engine.connect() as conn:
        late = [f for f in await flags_without_ticket(conn) if f["household_ref"] == ref]
        past_due = [t for t in await tickets_past_due(conn, now.date())
                    if t["household_ref"] == ref]
        risks = [r for r in await risks_without_follow_up(conn) if r["household_ref"] == ref]

    assert [f["event_id"] for f in late] == [str(unserved.envelope.id)]
    assert [(t["ticket_id"], t["days_overdue"]) for t in past_due] == [(str(ticket.ticket_id), 3)]
    assert [r["event_id"] for r in risks] == [str(dropout.envelope.id)]


def test_reports_cli_prints_the_funnel_and_the_three_sla_lists(
    stack_settings: Settings, engine: AsyncEngine,  # engine: the timeline schema exists
) -> None:
    env = {"DATABASE_URL": stack_settings.database_url,
           "KAFKA_BOOTSTRAP_SERVERS": stack_settings.kafka_bootstrap_servers}
    runner = CliRunner()

    funnel_out = runner.invoke(reports_app, ["funnel"], env=env)
    sla_out = runner.invoke(reports_app, ["sla", "--hours", "12", "--limit", "1"], env=env)
    down = runner.invoke(reports_app, ["funnel"], env={
        **env, "DATABASE_URL": "postgresql+asyncpg://sinergi:sinergi@127.0.0.1:9/sinergi"})

    assert funnel_out.exit_code == 0, funnel_out.output
    assert "Mahakam Ulu" in funnel_out.output and "East Kalimantan" in funnel_out.output
    assert sla_out.exit_code == 0, sla_out.output
    assert "Housing flags without a works ticket after 12 h:" in sla_out.output
    assert "Works tickets past due on" in sla_out.output
    assert "Dropout risks without a case follow-up:" in sla_out.output
    assert down.exit_code == 1
    assert down.output.startswith("error:") and "Traceback" not in down.output
