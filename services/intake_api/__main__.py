import asyncio

import uvicorn

from services.intake_api.api import create_app
from services.intake_api.bootstrap import build
from services.runtime.main import run
from services.runtime.service import ServiceRuntime
from services.runtime.settings import Settings

settings = Settings()


async def serve_http(runtime: ServiceRuntime, stop: asyncio.Event) -> None:
    config = uvicorn.Config(
        create_app(runtime), host=settings.http_host, port=settings.http_port,
        log_level="warning", lifespan="off",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    await stop.wait()
    server.should_exit = True
    await task


run(build(), settings, serve_http)
