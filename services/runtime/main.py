"""The process entry shared by every service: run until SIGTERM or SIGINT, then stop cleanly."""

import asyncio
import signal
from collections.abc import Awaitable, Callable

import structlog

from services.runtime.db import make_engine
from services.runtime.logging import configure_logging
from services.runtime.service import ServiceDefinition, ServiceRuntime
from services.runtime.settings import Settings

ExtraTask = Callable[[ServiceRuntime, asyncio.Event], Awaitable[None]]


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
    try:
        await runtime.start()
        extra_task: asyncio.Future[None] | None = (
            asyncio.ensure_future(extra(runtime, stop)) if extra else None
        )
        await stop.wait()
        log.info("service_stopping")
        if extra_task is not None:
            await extra_task
        await runtime.stop()
    finally:
        await engine.dispose()


def run(definition: ServiceDefinition, settings: Settings, extra: ExtraTask | None = None) -> None:
    configure_logging(definition.name, settings.log_level)
    asyncio.run(serve(definition, settings, extra))
