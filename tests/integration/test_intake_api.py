"""HTTP intake on the real stack: a posted record takes the outbox path to its intake topic
and on to the agency's service; a refused one names its fields and is never published."""

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts.catalogue import SOCIAL_INTAKE
from contracts.events.intake import HouseholdIntake
from services.intake_api.api import create_app
from services.intake_api.bootstrap import build
from services.intake_api.tables import TABLES
from services.runtime.auth import parse_tokens
from services.runtime.health import health_app
from services.runtime.service import ServiceRuntime
from services.runtime.settings import Settings
from services.social.pseudonym import household_ref
from services.timeline.queries import household_timeline
from tests.support import fresh_intakes, read_all, running, until

pytestmark = pytest.mark.integration

HOUSEHOLD_URL = "/events/intake.household.v1"


@asynccontextmanager
async def intake_api(settings: Settings, engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    """The intake service (its outbox relay running) and a client for its HTTP app, signed
    in as the Dinsos case system; ``client.health`` for the service's health and metrics
    app (served on SINERGI_METRICS_PORT, not on the public port)."""
    runtime = ServiceRuntime(build(), settings, engine)
    await runtime.start()
    token = parse_tokens(settings.api_tokens.get_secret_value())["dinsos-case-system"]
    try:
        transport = httpx.ASGITransport(app=create_app(runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://intake",
                                     headers={"Authorization": f"Bearer {token}"}) as client, \
                httpx.AsyncClient(transport=httpx.ASGITransport(app=health_app(runtime)),
                                  base_url="http://intake-health") as health:
            client.health = health  # type: ignore[attr-defined]
            yield client
    finally:
        await runtime.stop()


def case_headers(**extra: str) -> dict[str, str]:
    return {"ce-subject": f"CASE-{uuid4().hex[:8]}", "content-type": "application/json", **extra}


def metric(text: str, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return None


def ref_of(settings: Settings, intake: HouseholdIntake) -> str:
    return household_ref(settings.pseudonym_key.get_secret_value().encode(), intake.kk_number)


async def on_intake_topic(settings: Settings, key: str) -> list[Any]:
    return [r for r in await read_all(settings, [SOCIAL_INTAKE.name]) if r.key == key.encode()]


async def test_a_posted_household_is_registered_and_on_its_timeline(
    stack_settings: Settings, engine: AsyncEngine
) -> None:
    [intake] = fresh_intakes(1)
    ref = ref_of(stack_settings, intake)
    async with running(stack_settings, engine, "social", "timeline"), \
            intake_api(stack_settings, engine) as client:
        posted = await client.post(HOUSEHOLD_URL, content=intake.model_dump_json(),
                                   headers=case_headers(**{"ce-source": "dinsos-kukar"}))
        assert posted.status_code == 202, posted.text
        event_id = posted.json()["event_id"]

        async def registered() -> list[dict[str, Any]]:
            async with engine.connect() as conn:
                entries = await household_timeline(conn, ref)
            return [e for e in entries if e["type"] == "social.household.registered.v1"]

        [entry] = await until(registered, within=120, what="the household on its timeline")
    assert entry["causation_id"] == event_id
    [record] = await on_intake_topic(stack_settings, intake.kk_number)
    headers = dict(record.headers)
    assert headers["ce_id"] == event_id.encode()
    assert headers["ce_source"] == b"dinsos-kukar"
    assert HouseholdIntake.model_validate_json(record.value) == intake


async def test_refused_posts_name_their_fields_and_nothing_of_them_is_published(
    stack_settings: Settings, engine: AsyncEngine
) -> None:
    short_nik, bad_region, unknown, sentinel = fresh_intakes(4)
    members = json.loads(short_nik.model_dump_json())
    members["members"][0]["nik"] = members["members"][0]["nik"][:15]
    region = json.loads(bad_region.model_dump_json()) | {"region_code": "6499"}
    async with intake_api(stack_settings, engine) as client:
        refused = {
            "schema_violation": await client.post(
                HOUSEHOLD_URL, content=json.dumps(members), headers=case_headers()),
            "schema_violation (region)": await client.post(
                HOUSEHOLD_URL, json=region, headers=case_headers()),
            "unknown_type": await client.post(
                "/events/intake.household.v9", content=unknown.model_dump_json(),
                headers=case_headers()),
            "malformed_json": await client.post(
                HOUSEHOLD_URL, content=b'{"kk_number": ', headers=case_headers()),
            "oversize": await client.post(
                HOUSEHOLD_URL, content=b" " * (256 * 1024 + 1), headers=case_headers()),
            "invalid_envelope": await client.post(
                HOUSEHOLD_URL, content=unknown.model_dump_json(),
                headers={"content-type": "application/json"}),
        }
        ok = await client.post(HOUSEHOLD_URL, content=sentinel.model_dump_json(),
                               headers=case_headers())
        assert ok.status_code == 202, ok.text
        await until(lambda: on_intake_topic(stack_settings, sentinel.kk_number), within=120,
                    what="the record posted after the refused ones on the intake topic")
        scraped = (await client.health.get("/metrics")).text  # type: ignore[attr-defined]

    assert {name: r.status_code for name, r in refused.items()} == dict.fromkeys(refused, 422)
    bodies = {name: r.json() for name, r in refused.items()}
    assert bodies["schema_violation"]["reason"] == "schema_violation"
    [error] = bodies["schema_violation"]["errors"]
    assert error["field"] == "members.0.nik" and "match pattern" in error["message"]
    assert [e["field"] for e in bodies["schema_violation (region)"]["errors"]] == ["region_code"]
    assert "6499" in bodies["schema_violation (region)"]["errors"][0]["message"]
    for reason in ("unknown_type", "malformed_json", "oversize", "invalid_envelope"):
        assert bodies[reason]["reason"] == reason, bodies[reason]
    assert [e["field"] for e in bodies["invalid_envelope"]["errors"]] == ["subject"]

    published = {r.key for r in await read_all(stack_settings, [SOCIAL_INTAKE.name])}
    for intake in (short_nik, bad_region, unknown):
        assert intake.kk_number.encode() not in published
    async with engine.connect() as conn:
        keys = set((await conn.execute(select(TABLES.outbox.c.key))).scalars())
    assert sentinel.kk_number in keys
    assert not keys & {short_nik.kk_number, bad_region.kk_number, unknown.kk_number}
    assert metric(scraped, "sinergi_intake_requests_total", event_type="intake.household.v1",
                  outcome="schema_violation") == 2
    assert metric(scraped, "sinergi_intake_requests_total", event_type="unknown",
                  outcome="unknown_type") == 1


async def test_a_post_retried_with_the_same_ce_id_is_accepted_once_and_a_reused_id_refused(
    stack_settings: Settings, engine: AsyncEngine
) -> None:
    [intake, other] = fresh_intakes(2)
    event_id = str(uuid4())
    headers = case_headers(**{"ce-id": event_id})
    async with intake_api(stack_settings, engine) as client:
        first = await client.post(HOUSEHOLD_URL, content=intake.model_dump_json(),
                                  headers=headers)
        again = await client.post(HOUSEHOLD_URL, content=intake.model_dump_json(),
                                  headers=headers)
        # The same ce-id on another record: said, not dropped as a duplicate.
        reused = await client.post(HOUSEHOLD_URL, content=other.model_dump_json(),
                                   headers=headers)
        ready = await client.health.get("/readyz")  # type: ignore[attr-defined]
    assert (first.status_code, first.json()["duplicate"]) == (202, False)
    assert (again.status_code, again.json()) == (
        202, {"event_id": event_id, "type": "intake.household.v1", "duplicate": True})
    assert (reused.status_code, reused.json()["reason"]) == (409, "id_reused")
    assert ready.status_code == 200, ready.text
    async with engine.connect() as conn:
        rows = await conn.scalar(select(func.count()).select_from(TABLES.outbox)
                                 .where(TABLES.outbox.c.event_id == UUID(event_id)))
    assert rows == 1
