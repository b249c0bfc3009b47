"""Liveness, readiness and Prometheus metrics of a service on the real stack."""

import asyncio
import os
import re
import signal
import sys
from typing import Any
from uuid import uuid4

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts.catalogue import SOCIAL_INTAKE
from contracts.codec import encode
from services.demo.households import intake_envelope
from services.intake_api.bootstrap import build as build_intake
from services.runtime.db import make_engine
from services.runtime.health import HealthServer, health_app
from services.runtime.service import ServiceRuntime
from services.runtime.settings import Settings
from services.stack.common import free_port
from tests.integration.test_intake_api import metric
from tests.support import definitions, fresh_intakes, until

pytestmark = pytest.mark.integration

# What compose.yaml runs as each service's healthcheck: exit 0 only on 200.
HEALTHCHECK = ("import sys, urllib.request; "
               "urllib.request.urlopen(f'http://127.0.0.1:{sys.argv[1]}/readyz', timeout=5)")


async def get(port: int, path: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        return await client.get(path)


async def test_a_service_is_ready_only_while_running_and_counts_what_it_handled(
    stack_settings: Settings, engine: AsyncEngine, producer
) -> None:
    runtime = ServiceRuntime(definitions(stack_settings)["social"], stack_settings, engine)
    server = HealthServer(runtime, "127.0.0.1", 0)
    await server.start()
    try:
        assert (await get(server.port, "/livez")).status_code == 200
        starting = await get(server.port, "/readyz")
        assert starting.status_code == 503
        assert starting.json()["failing"] == ["subscriptions", "broker"]
        assert starting.json()["checks"]["database"] == "ok"

        await runtime.start()
        try:
            ready = await get(server.port, "/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"] == dict.fromkeys(
                ("subscriptions", "broker", "database"), "ok")
            valid, refused = fresh_intakes(2)
            envelope = intake_envelope(f"CASE-{uuid4().hex[:8]}")
            headers, payload = encode(envelope, valid)
            for _ in range(2):  # the second copy is a redelivery: a duplicate
                await producer.send_and_wait(SOCIAL_INTAKE.name, value=payload,
                                             key=valid.kk_number.encode(), headers=headers)
            bad = payload.replace(f'"{valid.region_code}"'.encode(), b'"6499"', 1)
            await producer.send_and_wait(SOCIAL_INTAKE.name, value=bad,
                                         key=refused.kk_number.encode(),
                                         headers=intake_envelope("CASE-X").to_headers())

            async def scraped() -> str | None:
                text = (await get(server.port, "/metrics")).text
                done = all(metric(text, "sinergi_messages_handled_total",
                                  consumer="social.intake", event_type="intake.household.v1",
                                  outcome=o) for o in ("processed", "duplicate", "dead_lettered"))
                return text if done and _lag_settled(text) and _no_backlog(text) else None

            text = await until(scraped, within=120, what="the three outcomes in /metrics")
        finally:
            await runtime.stop()
        stopped = await get(server.port, "/readyz")
    finally:
        await server.stop()

    assert metric(text, "sinergi_dead_letters_total", consumer="social.intake",
                  reason="schema_violation")
    assert metric(text, "sinergi_handler_latency_seconds_count", consumer="social.intake",
                  event_type="intake.household.v1")
    assert metric(text, "sinergi_consumer_lag", consumer="social.intake",
                  topic=SOCIAL_INTAKE.name) == 0
    assert metric(text, "sinergi_outbox_backlog") == 0
    assert stopped.status_code == 503 and "subscriptions" in stopped.json()["failing"]


def _lag_settled(text: str) -> bool:
    lags = [s for s in _samples(text, "sinergi_consumer_lag")
            if s.labels["consumer"] == "social.intake"]
    return bool(lags) and all(s.value == 0 for s in lags)


def _no_backlog(text: str) -> bool:
    return metric(text, "sinergi_outbox_backlog") == 0


def _samples(text: str, name: str) -> list[Any]:
    return [s for f in text_string_to_metric_families(text) for s in f.samples if s.name == name]


async def test_readiness_names_the_database_when_it_does_not_answer(
    stack_settings: Settings,
) -> None:
    nowhere = make_engine(f"postgresql+asyncpg://sinergi:x@127.0.0.1:{free_port()}/sinergi")
    runtime = ServiceRuntime(build_intake(), stack_settings, nowhere)
    await runtime.start(relay=False, migrate_schema=False)
    try:
        transport = httpx.ASGITransport(app=health_app(runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
            ready = await client.get("/readyz")
            scraped = await client.get("/metrics")
    finally:
        await runtime.stop()
        await nowhere.dispose()
    assert ready.status_code == 503
    assert ready.json()["failing"] == ["database"]
    assert ready.json()["checks"]["database"].startswith("unreachable: ")
    assert scraped.status_code == 200
    assert "sinergi_outbox_backlog NaN" in scraped.text


async def test_the_service_process_serves_health_on_its_metrics_port_and_stops_on_sigterm(
    stack_settings: Settings, engine: AsyncEngine
) -> None:
    port = free_port()
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": stack_settings.kafka_bootstrap_servers,
           "DATABASE_URL": stack_settings.database_url, "SINERGI_METRICS_PORT": str(port)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.public_works", env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        async def healthy() -> bool:
            check = await asyncio.create_subprocess_exec(
                sys.executable, "-c", HEALTHCHECK, str(port), stderr=asyncio.subprocess.DEVNULL)
            return await check.wait() == 0

        await until(healthy, within=120, what="the compose healthcheck to pass")
        scraped = (await get(port, "/metrics")).text
        # A number, not NaN: the database answered (the process may still be relaying
        # tickets for flags earlier tests left, so the count itself is not fixed here).
        assert re.search(r"^sinergi_outbox_backlog \d+\.\d+$", scraped, re.MULTILINE)
        assert "# TYPE sinergi_messages_handled_total counter" in scraped
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert b"service_stopped" in err
