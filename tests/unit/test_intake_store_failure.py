"""An intake the API could not store is answered 503 (post it again), its numbers unlogged."""

import random
from datetime import date

import httpx
import pytest
import structlog.testing

from services.demo.households import sample_household
from services.intake_api.api import create_app
from services.intake_api.bootstrap import build
from services.runtime.auth import AgencyTokens
from services.runtime.db import make_engine
from services.runtime.service import ServiceRuntime
from services.runtime.settings import Settings

pytestmark = pytest.mark.unit


def test_engines_keep_statement_values_out_of_error_text() -> None:
    engine = make_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    assert engine.sync_engine.hide_parameters


async def test_a_database_that_cannot_be_reached_gets_503_and_a_retry_hint() -> None:
    # Nothing listens on port 1: storing the intake fails as a database outage would.
    settings = Settings.model_validate({})
    engine = make_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    runtime = ServiceRuntime(build(), settings, engine)
    app = create_app(runtime, AgencyTokens({"dinsos-case-system": "t0ken"}))
    household = sample_household(random.Random(3), date(2026, 3, 1))
    body, kk = household.model_dump_json().encode(), household.kk_number
    with structlog.testing.capture_logs() as logged:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://intake") as http:
            answer = await http.post("/events/intake.household.v1", content=body, headers={
                "Authorization": "Bearer t0ken", "ce-subject": "CASE-0001",
                "content-type": "application/json"})
    await engine.dispose()
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "5"
    assert answer.json()["reason"] == "store_unavailable"
    [failure] = [e for e in logged if e["event"] == "intake_not_stored"]
    assert failure["transient"] is True
    assert kk not in str(logged)
