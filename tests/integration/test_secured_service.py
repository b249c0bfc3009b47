"""A service on a secured broker logs in as its own principal and lives within its ACLs.

A SASL/SCRAM Kafka of its own (ACLs from ``contracts/access.py``, as in
``test_acl_matrix.py``) and the test stack's PostgreSQL.
"""

import uuid
from collections.abc import Iterator

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts.access import INTAKE_API, OUTSIDER
from contracts.catalogue import SOCIAL_HOUSING, SOCIAL_INTAKE
from contracts.codec import encode
from contracts.envelope import new_envelope
from contracts.events.social import HousingFlagged, HousingNeed
from services.intake_api.api import create_app
from services.intake_api.bootstrap import build as build_intake_api
from services.public_works.tables import TABLES, tickets
from services.runtime.auth import parse_tokens
from services.runtime.kafka import TopicsMissing
from services.runtime.service import ServiceRuntime
from services.runtime.settings import Settings
from services.stack import Stack
from tests.support import fresh_intakes, running, secured_stack, until

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def secured() -> Iterator[Stack]:
    yield from secured_stack("secured-service")


def logged_in(settings: Settings, stack: Stack, principal: str) -> Settings:
    login = stack.client_config(principal)
    return settings.model_copy(update={
        "kafka_bootstrap_servers": login["bootstrap_servers"],
        "kafka_sasl_username": principal,
        "kafka_sasl_password": SecretStr(login["sasl_plain_password"]),
        "kafka_security_protocol": "SASL_PLAINTEXT",
    })


async def test_public_works_consumes_and_publishes_as_its_own_principal(
    secured: Stack, stack_settings: Settings, engine: AsyncEngine
) -> None:
    ref = "h-" + uuid.uuid4().hex
    envelope = new_envelope(type="social.housing.flagged.v1", source="sinergi/social",
                            subject=ref, correlationid=ref, causationid=None)
    headers, payload = encode(envelope, HousingFlagged(
        household_ref=ref, region_code="6472", village="Sungai Pinang",
        needs=[HousingNeed.SANITATION]))
    social = AIOKafkaProducer(**secured.client_config("social"), acks="all",
                              enable_idempotence=True)
    await social.start()
    try:
        await social.send_and_wait(SOCIAL_HOUSING.name, payload, key=ref.encode(),
                                   headers=headers)
    finally:
        await social.stop()

    async def ticket_published() -> bool:
        outbox = TABLES.outbox
        async with engine.connect() as conn:
            opened = (await conn.execute(select(tickets.c.ticket_id).where(
                tickets.c.household_ref == ref))).first()
            sent = (await conn.execute(select(outbox.c.id).where(
                outbox.c.key == ref, outbox.c.sent_at.is_not(None)))).first()
        return opened is not None and sent is not None

    settings = logged_in(stack_settings, secured, "public_works")
    async with running(settings, engine, "public_works"):
        # Its group (public_works.housing_flags) read the flag; the relay's producer had
        # the ticket event acknowledged on a topic only public_works may write.
        await until(ticket_published, within=60, what="the ticket opened and published")


async def test_a_principal_without_the_services_topics_is_told_which_are_missing(
    secured: Stack, stack_settings: Settings, engine: AsyncEngine
) -> None:
    settings = logged_in(stack_settings, secured, OUTSIDER)
    with pytest.raises(TopicsMissing) as refused:
        async with running(settings, engine, "public_works"):
            pass
    assert SOCIAL_HOUSING.name in str(refused.value)
    assert repr(OUTSIDER) in str(refused.value)


async def test_the_intake_api_publishes_a_posted_household_as_its_own_principal(
    secured: Stack, stack_settings: Settings, engine: AsyncEngine
) -> None:
    [intake] = fresh_intakes(1)
    settings = logged_in(stack_settings, secured, INTAKE_API)
    runtime = ServiceRuntime(build_intake_api(), settings, engine)
    await runtime.start()
    token = parse_tokens(settings.api_tokens.get_secret_value())["dinsos-case-system"]
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(runtime)),
                                     base_url="http://intake") as client:
            posted = await client.post(
                "/events/intake.household.v1", content=intake.model_dump_json(),
                headers={"Authorization": f"Bearer {token}", "content-type": "application/json",
                         "ce-subject": f"CASE-{uuid.uuid4().hex[:8]}"})
        assert posted.status_code == 202, posted.text
        # Dinsos, the only reader of its intake topic, finds the record the relay sent
        # under the intake API's login.
        social = AIOKafkaConsumer(
            SOCIAL_INTAKE.name, **secured.client_config("social"),
            group_id=f"social.secured-intake-{uuid.uuid4().hex[:8]}",
            auto_offset_reset="earliest", enable_auto_commit=False)
        await social.start()
        try:
            async def posted_record() -> bool:
                batches = await social.getmany(timeout_ms=500)
                return any(r.key == intake.kk_number.encode()
                           for records in batches.values() for r in records)

            await until(posted_record, within=60, what="the posted household on its topic")
        finally:
            await social.stop()
    finally:
        await runtime.stop()
