"""Agency tokens on the real stack: who may call which HTTP endpoint, and what each agency
sees of a household's timeline (its topics' readers and writers in the catalogue)."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts.base import Contract
from contracts.catalogue import spec_for
from contracts.codec import Event
from contracts.envelope import new_envelope
from contracts.events import education as edu
from contracts.events import public_works as pw
from contracts.events import social
from contracts.events.social import HousingNeed
from services.intake_api.api import create_app as intake_app
from services.intake_api.bootstrap import build
from services.intake_api.tables import TABLES
from services.runtime.auth import COOKIE, parse_tokens
from services.runtime.service import ServiceRuntime
from services.runtime.settings import Settings
from services.runtime.unit_of_work import UnitOfWork
from services.timeline.api import create_app as timeline_app
from services.timeline.handlers import record_entry
from services.timeline.tables import TABLES as TIMELINE
from tests.support import fresh_intakes

pytestmark = pytest.mark.integration

TOKENS = parse_tokens(Settings().api_tokens.get_secret_value())
PW_TYPES = {"social.housing.flagged.v1", "public_works.ticket.opened.v1"}
EDU_TYPES = {"education.pupil.enrolled.v1", "education.dropout.risk.v1"}
ALL_TYPES = {"social.household.registered.v1", "social.income.reported.v1",
             "social.grant.awarded.v1", *PW_TYPES, *EDU_TYPES}


def bearer(agency: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[agency]}"}


def event(data: Contract, ref: str, hours_ago: float) -> Event:
    envelope = new_envelope(type=spec_for(type(data)).type, source="test", subject=ref,
                            correlationid=ref, causationid=None,
                            time=datetime.now(UTC) - timedelta(hours=hours_ago))
    return Event(envelope, data)


async def project_case(engine: AsyncEngine) -> str:
    """A household with social, housing, works and school entries, as the timeline holds them."""
    ref, day = f"h-{uuid4().hex}", date(2025, 1, 6)
    flag = event(social.HousingFlagged(household_ref=ref, region_code="6472", village="Loa Janan",
                                       needs=[HousingNeed.CLEAN_WATER]), ref, 50)
    story = [
        event(social.HouseholdRegistered(household_ref=ref, region_code="6472", member_count=4,
                                         registered_on=day), ref, 60),
        event(social.IncomeReported(household_ref=ref, region_code="6472", monthly_income=1,
                                    poverty_line=4_543_264, reported_on=day,
                                    consecutive_at_or_above_line=0), ref, 55),
        flag,
        event(pw.WorksTicketOpened(ticket_id=uuid4(), household_ref=ref, region_code="6472",
                                   need=HousingNeed.CLEAN_WATER, flag_event_id=flag.envelope.id,
                                   due_on=day), ref, 40),
        event(edu.PupilEnrolled(household_ref=ref, person_ref=f"p-{uuid4().hex}",
                                region_code="6472", level=edu.SchoolLevel.SD), ref, 30),
        event(edu.DropoutRisk(household_ref=ref, person_ref=f"p-{uuid4().hex}", month="2025-03",
                              attendance_pct=70.0, months_below=2), ref, 20),
        event(social.GrantAwarded(household_ref=ref, region_code="6472", amount=5_000_000,
                                  business_type="warung", mentor="Bu Sari", awarded_on=day),
              ref, 10),
    ]
    async with UnitOfWork(engine, TIMELINE, "sinergi/timeline") as uow:
        for e in story:
            await record_entry(e, uow)
        await uow.commit()
    return ref


def timeline_client(engine: AsyncEngine) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=timeline_app(engine)),
                             base_url="http://timeline")


@asynccontextmanager
async def intake_client(settings: Settings, engine: AsyncEngine
                        ) -> AsyncIterator[httpx.AsyncClient]:
    runtime = ServiceRuntime(build(), settings, engine)
    await runtime.start()
    try:
        transport = httpx.ASGITransport(app=intake_app(runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
            yield client
    finally:
        await runtime.stop()


ENDPOINTS = ("timeline", "/sla/flags-without-ticket", "/sla/tickets-past-due",
             "/sla/risks-without-follow-up", "/funnel", "/", "page", "/healthz")
EXPECTED = {
    None: (401, 401, 401, 401, 401, 401, 401, 200),
    "unknown": (401, 401, 401, 401, 401, 401, 401, 200),
    "social": (200, 200, 200, 200, 200, 200, 200, 200),
    "operators": (200, 200, 200, 200, 200, 200, 200, 200),
    "public_works": (200, 200, 200, 403, 403, 403, 200, 200),
    "education": (200, 403, 403, 200, 403, 403, 200, 200),
    "dinsos-case-system": (403, 403, 403, 403, 403, 403, 403, 200),
}


async def test_each_agency_gets_200_401_or_403_per_endpoint_as_its_role_allows(
    engine: AsyncEngine,
) -> None:
    ref = await project_case(engine)
    paths = {"timeline": f"/households/{ref}/timeline", "page": f"/households/{ref}"}
    answers = {}
    async with timeline_client(engine) as http:
        for agency in EXPECTED:
            headers = {} if agency is None else {"Authorization": "Bearer nope"} \
                if agency == "unknown" else bearer(agency)
            answers[agency] = tuple([
                (await http.get(paths.get(e, e), headers=headers)).status_code
                for e in ENDPOINTS])
        refused = await http.get("/funnel")
        forbidden = await http.get("/funnel", headers=bearer("education"))

    assert answers == EXPECTED
    assert refused.json() == {"detail": "a valid agency token is required"}
    assert refused.headers["www-authenticate"] == "Bearer"
    assert "detail" in forbidden.json()


async def test_public_works_sees_only_housing_flags_and_tickets_of_a_household(
    engine: AsyncEngine,
) -> None:
    ref = await project_case(engine)
    async with timeline_client(engine) as http:
        views = {a: (await http.get(f"/households/{ref}/timeline", headers=bearer(a))).json()
                 for a in ("public_works", "education", "social", "operators")}
        page = await http.get(f"/households/{ref}", headers=bearer("public_works"))

    def types(agency: str) -> set[str]:
        return {e["type"] for e in views[agency]["entries"]}

    assert types("public_works") == PW_TYPES
    assert types("education") == EDU_TYPES
    assert types("social") == types("operators") == ALL_TYPES
    assert 'data-type="social.housing.flagged.v1"' in page.text
    assert "social.income.reported.v1" not in page.text
    assert "social.grant.awarded.v1" not in page.text
    assert "education." not in page.text


async def test_login_sets_a_cookie_that_opens_the_pages_and_refuses_unknown_tokens(
    engine: AsyncEngine,
) -> None:
    ref = await project_case(engine)
    async with timeline_client(engine) as http:
        form = await http.get(f"/households/{ref}")
        bad = await http.post("/login", data={"token": "nope"})
        offsite = await http.post("/login", data={"token": TOKENS["social"],
                                                  "next": "//evil.example/"})
        in_url = await http.get("/login", params={"token": TOKENS["operators"]})
        huge = await http.post("/login", content=b"token=" + b"x" * 5_000_000,
                               headers={"content-type": "application/x-www-form-urlencoded"})
        proxied = await http.post("/login", data={"token": TOKENS["social"]},
                                  headers={"x-forwarded-proto": "https"})
        good = await http.post("/login", data={"token": TOKENS["education"],
                                               "next": f"/households/{ref}"})
        signed_in = {"Cookie": f"{COOKIE}={good.cookies[COOKIE]}"}
        http.cookies.clear()  # only the cookie the education login set
        page = await http.get(f"/households/{ref}", headers=signed_in)
        overview = await http.get("/", headers=signed_in)

    assert form.status_code == 401 and 'action="/login"' in form.text
    assert f'value="/households/{ref}"' in form.text
    assert bad.status_code == 401 and COOKIE not in bad.cookies
    assert offsite.status_code == 303 and offsite.headers["location"] == "/"
    # A token in the URL signs nobody in: it would stay in histories and proxies' logs.
    assert in_url.status_code == 200 and COOKIE not in in_url.cookies
    assert huge.status_code == 413 and COOKIE not in huge.cookies
    assert "secure" in proxied.headers["set-cookie"].lower()
    assert "secure" not in good.headers["set-cookie"].lower()  # plain http, no proxy
    assert good.status_code == 303 and good.headers["location"] == f"/households/{ref}"
    assert "httponly" in good.headers["set-cookie"].lower()
    assert page.status_code == 200 and 'data-type="education.dropout.risk.v1"' in page.text
    assert 'data-type="social.housing.flagged.v1"' not in page.text
    assert overview.status_code == 403


async def outboxed(engine: AsyncEngine, key: str) -> int:
    async with engine.connect() as conn:
        rows = await conn.execute(select(TABLES.outbox.c.id).where(TABLES.outbox.c.key == key))
    return len(rows.all())


async def test_an_agency_system_may_post_only_its_intake_types_and_nothing_else_is_public(
    stack_settings: Settings, engine: AsyncEngine,
) -> None:
    [intake] = fresh_intakes(1)
    body = intake.model_dump_json()
    url = "/events/intake.household.v1"
    case = {"ce-subject": f"CASE-{uuid4().hex[:8]}", "content-type": "application/json"}
    async with intake_client(stack_settings, engine) as http:
        anonymous = await http.post(url, content=body, headers=case)
        unknown = await http.post(url, content=body, headers={**case, **{
            "Authorization": "Bearer nope"}})
        by_cookie = await http.post(url, content=body, headers={
            **case, "Cookie": f"{COOKIE}={TOKENS['dinsos-case-system']}"})
        refused = {a: (await http.post(url, content=body, headers={**case, **bearer(a)}))
                   for a in ("pupr-field-system", "school-systems", "social")}
        written_before = await outboxed(engine, intake.kk_number)
        ticket = await http.post("/events/intake.ticket_update.v1", content=b"{}",
                                 headers={**case, **bearer("pupr-field-system")})
        accepted = await http.post(url, content=body,
                                   headers={**case, **bearer("dinsos-case-system")})
        # Health and metrics live on the metrics port only: here they would tell anyone
        # the database's address and every agency's request counts.
        public = {path: (await http.get(path)).status_code
                  for path in ("/livez", "/readyz", "/metrics", "/docs", "/openapi.json")}

    assert [anonymous.status_code, unknown.status_code, by_cookie.status_code] == [401] * 3
    assert anonymous.json() == {"detail": "a valid agency token is required"}
    assert {a: r.status_code for a, r in refused.items()} == dict.fromkeys(refused, 403)
    assert written_before == 0
    assert ticket.status_code == 422  # let through to validation: its own topic's type
    assert accepted.status_code == 202
    assert await outboxed(engine, intake.kk_number) == 1
    assert public == dict.fromkeys(public, 404)
