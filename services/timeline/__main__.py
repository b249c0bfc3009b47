import asyncio

import uvicorn

from services.runtime.main import run
from services.runtime.service import ServiceRuntime
from services.runtime.settings import Settings
from services.timeline.api import create_app
from services.timeline.bootstrap import build

settings = Settings()


async def serve_http(runtime: ServiceRuntime, stop: asyncio.Event) -> None:
    config = uvicorn.Config(
        create_app(runtime.engine), host=settings.http_host, port=settings.http_port,
        log_level="warning", lifespan="off",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    await stop.wait()
    server.should_exit = True
    await task


run(build(), settings, serve_http)
