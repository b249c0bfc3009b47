"""The example consumer on Sinergi's real stack: events in as Dinsos and Education publish
them, one planned visit per household out, whatever is redelivered or refused."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from health_office.consumer import Config, run
from health_office_testing import committed_past, publish, until

from contracts.catalogue import DEAD_LETTER, SOCIAL_HOUSING
from contracts.envelope import new_envelope
from contracts.events.education import DropoutRisk, PupilEnrolled, SchoolLevel
from contracts.events.social import HousingFlagged, HousingNeed
from contracts.regions import local_date
from services.demo.records import read_topics

pytestmark = pytest.mark.integration

GROUP = "health_office.visits"
SOCIAL, EDUCATION = "sinergi/social", "sinergi/education"


@pytest.fixture(scope="module")
async def planner(kafka: str, sinergi_env: dict[str, str]) -> AsyncIterator[Config]:
    """The example consumer, running as the health office would run it."""
    config = Config(kafka, sinergi_env["DATABASE_URL"], GROUP)
    stop = asyncio.Event()
    task = asyncio.create_task(run(config, stop))
    yield config
    stop.set()
    await asyncio.wait_for(task, 60)


def new_ref() -> str:
    return f"h-{uuid.uuid4().hex}"


def flag(ref: str, *needs: HousingNeed) -> HousingFlagged:
    return HousingFlagged(household_ref=ref, region_code="6402", village="Loa Janan",
                          needs=list(needs))


def risk(ref: str) -> DropoutRisk:
    return DropoutRisk(household_ref=ref, person_ref=f"p-{uuid.uuid4().hex}", month="2025-03",
                       attendance_pct=61.5, months_below=2)


async def visits_of(db: asyncpg.Pool, ref: str) -> list[asyncpg.Record]:
    return await db.fetch("SELECT * FROM health_office.visits WHERE household_ref = $1", ref)


async def handled(db: asyncpg.Pool, event_id: uuid.UUID) -> int:
    return await db.fetchval(
        "SELECT count(*) FROM health_office.handled_events WHERE event_id = $1", event_id)


async def test_flag_delivered_twice_plans_one_visit_caused_by_it_once(
    planner: Config, agency: AIOKafkaProducer, db: asyncpg.Pool
) -> None:
    ref = new_ref()
    data = flag(ref, HousingNeed.CLEAN_WATER, HousingNeed.SANITATION)
    envelope, _ = await publish(agency, data, SOCIAL)
    _, again = await publish(agency, data, SOCIAL, envelope)  # a relay re-publish: same ce_id
    await until(lambda: committed_past(planner.bootstrap_servers, GROUP, again),
                "both copies to be consumed")

    [visit] = await visits_of(db, ref)
    assert visit["reasons"] == ["no_clean_water", "no_healthy_latrine"]
    assert visit["caused_by"] == [envelope.id]
    assert (visit["region_code"], visit["village"]) == ("6402", "Loa Janan")
    assert (visit["due_by"] - local_date(envelope.time)).days == 7  # days in Kaltim
    assert visit["correlation_id"] == ref
    assert await handled(db, envelope.id) == 1


async def test_flag_and_dropout_risk_of_one_household_share_one_visit(
    planner: Config, agency: AIOKafkaProducer, db: asyncpg.Pool
) -> None:
    ref = new_ref()
    flagged, _ = await publish(agency, flag(ref, HousingNeed.SANITATION), SOCIAL)
    at_risk, meta = await publish(agency, risk(ref), EDUCATION)
    await until(lambda: committed_past(planner.bootstrap_servers, GROUP, meta),
                "the dropout risk to be consumed")
    await until(lambda: handled(db, flagged.id), "the flag to be handled")

    [visit] = await visits_of(db, ref)
    assert visit["reasons"] == ["child_dropout_risk", "no_healthy_latrine"]
    assert sorted(visit["caused_by"]) == sorted([flagged.id, at_risk.id])
    assert (visit["due_by"] - local_date(flagged.time)).days == 14  # the earlier of 14 and 30
    assert visit["village"] == "Loa Janan"  # a dropout risk carries no village: kept


async def test_rehabilitation_only_and_other_types_plan_no_visit(
    planner: Config, agency: AIOKafkaProducer, db: asyncpg.Pool
) -> None:
    ref = new_ref()
    rehab, _ = await publish(agency, flag(ref, HousingNeed.HOUSE_REHABILITATION), SOCIAL)
    enrolled, meta = await publish(agency, PupilEnrolled(
        household_ref=ref, person_ref=f"p-{uuid.uuid4().hex}", region_code="6402",
        level=SchoolLevel.SD), EDUCATION)
    await until(lambda: committed_past(planner.bootstrap_servers, GROUP, meta),
                "the enrolment to be consumed")
    await until(lambda: handled(db, rehab.id), "the flag to be handled")

    assert await visits_of(db, ref) == []
    assert await handled(db, enrolled.id) == 0  # not a type the health office uses


async def test_refused_record_goes_to_the_dead_letter_topic_and_the_next_is_handled(
    planner: Config, agency: AIOKafkaProducer, db: asyncpg.Pool
) -> None:
    bad_ref, good_ref = new_ref(), new_ref()
    bad = new_envelope(type="social.housing.flagged.v1", source=SOCIAL, subject=bad_ref,
                       correlationid=bad_ref, causationid=None)
    payload = {**flag(bad_ref, HousingNeed.SANITATION).model_dump(mode="json"),
               "kk_number": "6402010101010001"}  # an identity number never allowed out
    await agency.send_and_wait(SOCIAL_HOUSING.name, value=json.dumps(payload).encode(),
                               key=bad_ref.encode(), headers=bad.to_headers())
    _, meta = await publish(agency, flag(good_ref, HousingNeed.CLEAN_WATER), SOCIAL)
    await until(lambda: committed_past(planner.bootstrap_servers, GROUP, meta),
                "the valid flag to be consumed")

    assert len(await visits_of(db, good_ref)) == 1
    assert await visits_of(db, bad_ref) == []
    letters = [{k: (v or b"").decode("utf-8", "replace") for k, v in r.headers}
               for r in await read_topics(planner.bootstrap_servers, [DEAD_LETTER.name])]
    [letter] = [h for h in letters
                if h.get("ce_id") == str(bad.id) and h.get("dlq_consumer_group") == GROUP]
    assert letter["dlq_reason"] == "schema_violation"
    assert "kk_number" in letter["dlq_detail"]
    assert letter["dlq_topic"] == SOCIAL_HOUSING.name


async def test_rereading_every_topic_from_the_start_changes_no_visit(
    planner: Config, agency: AIOKafkaProducer, db: asyncpg.Pool
) -> None:
    ref = new_ref()
    await publish(agency, flag(ref, HousingNeed.CLEAN_WATER), SOCIAL)
    _, meta = await publish(agency, risk(ref), EDUCATION)
    await until(lambda: committed_past(planner.bootstrap_servers, GROUP, meta),
                "the household's events to be consumed")
    before = await db.fetch("SELECT * FROM health_office.visits ORDER BY household_ref")

    # Offsets lost (a new group id, say): everything is read again from the beginning.
    # A group of its own each run: a kept stack keeps an earlier run's offsets.
    replay = Config(planner.bootstrap_servers, planner.database_url,
                    f"{GROUP}.reread-{uuid.uuid4().hex[:8]}")
    stop = asyncio.Event()
    task = asyncio.create_task(run(replay, stop))
    try:
        await until(lambda: committed_past(replay.bootstrap_servers, replay.group_id, meta),
                    "the re-read to reach the household's last event")
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)

    assert await db.fetch("SELECT * FROM health_office.visits ORDER BY household_ref") == before
