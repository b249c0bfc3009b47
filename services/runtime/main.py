"""The process entry shared by every service: run until SIGTERM or SIGINT, then stop cleanly.

With SINERGI_METRICS_PORT set, /livez, /readyz and /metrics answer on that port from
before the service starts until after it stopped.
"""

import asyncio
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
import uvicorn
from aiokafka.errors import (
    AuthenticationFailedError,
    ClusterAuthorizationFailedError,
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    SaslAuthenticationFailed,
    TopicAuthorizationFailedError,
    UnsupportedSaslMechanismError,
)

from services.runtime.collector import tune_gc
from services.runtime.db import make_engine, migrate
from services.runtime.health import HealthServer
from services.runtime.kafka import TopicsMissing
from services.runtime.logging import configure_logging
from services.runtime.relay_process import (
    RELAY_ROLE,
    ROLE_ENV,
    RelayProcess,
    RelayProcessFailed,
    relay_module,
    serve_relay,
)
from services.runtime.service import ServiceDefinition, ServiceRuntime
from services.runtime.settings import DEV_API_TOKENS, Settings

ExtraTask = Callable[[ServiceRuntime, asyncio.Event], Awaitable[None]]
LOOPBACK = ("127.0.0.1", "::1", "localhost")


def serving_http(make_app: Callable[[ServiceRuntime], Any], settings: Settings) -> ExtraTask:
    """An ``extra`` task serving ``make_app(runtime)`` on SINERGI_HTTP_HOST/PORT until stop."""
    async def serve_http(runtime: ServiceRuntime, stop: asyncio.Event) -> None:
        if (settings.api_tokens.get_secret_value() == DEV_API_TOKENS
                and settings.http_host not in LOOPBACK):
            # Their values are in the source: anyone could sign in as any agency.
            structlog.get_logger().error(
                "development_api_tokens_in_use", host=settings.http_host,
                fix="set SINERGI_API_TOKENS to agency:token pairs of your own")
        config = uvicorn.Config(make_app(runtime), host=settings.http_host,
                                port=settings.http_port, log_level="warning", lifespan="off")
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        await stop.wait()
        server.should_exit = True
        await task

    return serve_http


async def serve(
    definition: ServiceDefinition, settings: Settings, extra: ExtraTask | None = None
) -> None:
    log = structlog.get_logger()
    engine = make_engine(settings.database_url)
    runtime = ServiceRuntime(definition, settings, engine)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    health = (None if settings.metrics_port is None else
              HealthServer(runtime, settings.metrics_host, settings.metrics_port))
    wanted = settings.relay_process and definition.relay_process
    module = relay_module() if wanted else None
    if wanted and module is None:
        log.warning("relay_in_this_process",
                    reason="not started as `python -m services.<name>`, the command its relay's "
                           "process would be started with (SINERGI_RELAY_PROCESS)")
    relay_process = RelayProcess(module) if module else None
    if relay_process is not None:
        runtime.relay_through(relay_process.committed)
    started = False
    try:
        if health is not None:
            await health.start()
        if relay_process is not None:
            # Started once the tables exist, and before the consumers: its imports and
            # connections are done by the time the first commit hands it records.
            await migrate(engine, definition.migrations, definition.tables.schema)
            await relay_process.start()
            yield_to_the_relay()
        await runtime.start(relay=relay_process is None, migrate_schema=relay_process is None)
        started = True
        extra_task: asyncio.Future[None] | None = (
            asyncio.ensure_future(extra(runtime, stop)) if extra else None
        )
        await stop.wait()
        log.info("service_stopping")
        if extra_task is not None:
            await extra_task
        await runtime.stop()
    finally:
        if not started:  # start failed part-way: close what it opened
            await runtime.producer.stop()
        if relay_process is not None:
            await relay_process.stop()  # after the last commit: the child sends the rest
        if health is not None:
            await health.stop()
        await engine.dispose()


def yield_to_the_relay() -> None:
    """Mark this process (its consumers) SCHED_BATCH, once its relay's process has started.

    On a full machine the relay's process, woken by each commit, waited for a core behind
    the consumers (p99 latency at 200 households/s was ~100 ms worse; at niceness -5 it
    was not). A batch process does not preempt others when it wakes, so the relay (and
    PostgreSQL, Kafka) get the core first. It helped in latency-only runs, not in
    `make bench` (bench/README). Any user may ask for it; where the platform has no such
    policy it is left out.
    """
    if hasattr(os, "SCHED_BATCH"):
        try:
            os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
        except OSError as exc:
            structlog.get_logger().warning("sched_batch_refused", error=repr(exc))


# The broker refusing this service for good at start: a message, not a traceback.
REFUSALS = (TopicsMissing, SaslAuthenticationFailed, AuthenticationFailedError,
            UnsupportedSaslMechanismError, TopicAuthorizationFailedError,
            GroupAuthorizationFailedError, ClusterAuthorizationFailedError)


def run(definition: ServiceDefinition, settings: Settings, extra: ExtraTask | None = None) -> None:
    relay_role = os.environ.get(ROLE_ENV) == RELAY_ROLE
    configure_logging(definition.name, settings.log_level)
    if relay_role:
        structlog.contextvars.bind_contextvars(process="relay")
    tune_gc()
    try:
        if relay_role:
            asyncio.run(serve_relay(definition.name, definition.tables, settings,
                                    definition.keep_sent_seconds(settings)))
        else:
            asyncio.run(serve(definition, settings, extra))
    except REFUSALS as exc:
        structlog.get_logger().error("broker_refused_service", error=repr(exc))
        sys.exit(f"{definition.name}: the Kafka broker refused this service: "
                 f"{type(exc).__name__}: {exc}")
    except RelayProcessFailed as exc:
        structlog.get_logger().error("relay_process_failed", error=str(exc))
        sys.exit(f"{definition.name}: {exc}")
    except KafkaConnectionError as exc:
        # aiokafka reports a refused SASL login as a failed bootstrap, like a broker down.
        login = (f", or it refused the login of {settings.kafka_sasl_username!r}"
                 if settings.kafka_sasl_username else "")
        structlog.get_logger().error("broker_unreachable", error=repr(exc))
        sys.exit(f"{definition.name}: could not connect to Kafka at "
                 f"{settings.kafka_bootstrap_servers} (it is down or unreachable{login})")
