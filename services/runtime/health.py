"""Liveness, readiness and metrics over HTTP, for orchestrators and Prometheus.

``/livez``: the process answers. ``/readyz``: its subscriptions run, the broker answers a
metadata request and the database a ``SELECT 1``; otherwise 503 naming what fails.
``/metrics``: Prometheus text. Every service serves them on SINERGI_METRICS_PORT (unset:
no server); a service with its own FastAPI app may also include ``health_router``.
"""

import asyncio
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog
import uvicorn
from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

from services.runtime.service import ServiceRuntime

log = structlog.get_logger()
CHECK_SECONDS = 2.0
OK = "ok"


async def _database(runtime: ServiceRuntime) -> str:
    async with runtime.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
    return OK


async def _broker(runtime: ServiceRuntime) -> str:
    if not runtime.started:
        return "not started"
    # The producer's metadata refresh is one request to any broker; shielded because the
    # future is shared with the producer's own refreshes.
    updated = await asyncio.shield(runtime.producer.client.force_metadata_update())
    return OK if updated else "no broker answered a metadata request"


def _subscriptions(runtime: ServiceRuntime) -> str:
    if not runtime.started:
        return "not started"
    stopped = [name for name, sub in runtime.subscribers.items()
               if not sub.running or sub.consumer is None or any(t.done() for t in sub.tasks)]
    return OK if not stopped else f"not consuming: {', '.join(stopped)}"


async def _timed(check: Any, runtime: ServiceRuntime) -> str:
    try:
        return str(await asyncio.wait_for(check(runtime), CHECK_SECONDS))
    except TimeoutError:
        return f"no answer within {CHECK_SECONDS:g}s"
    except Exception as exc:
        return f"unreachable: {type(exc).__name__}: {str(exc)[:200]}"


async def readiness(runtime: ServiceRuntime) -> dict[str, str]:
    """Each part's state: ``ok`` or what is wrong with it."""
    database, broker = await asyncio.gather(_timed(_database, runtime),
                                            _timed(_broker, runtime))
    return {"subscriptions": _subscriptions(runtime), "broker": broker, "database": database}


def health_router(runtime: ServiceRuntime) -> APIRouter:
    router = APIRouter()

    @router.get("/livez")
    async def livez() -> dict[str, str]:
        return {"status": "alive", "service": runtime.definition.name}

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        checks = await readiness(runtime)
        failing = [part for part, state in checks.items() if state != OK]
        body = {"status": "unavailable" if failing else "ready",
                "service": runtime.definition.name, "failing": failing, "checks": checks}
        return JSONResponse(body, status_code=503 if failing else 200)

    @router.get("/metrics")
    async def metrics() -> Response:
        consumers = {name: sub.consumer for name, sub in runtime.subscribers.items()}
        await runtime.metrics.refresh(consumers, runtime.relay.backlog)
        return Response(runtime.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    return router


def health_app(runtime: ServiceRuntime) -> FastAPI:
    app = FastAPI(title=f"Sinergi {runtime.definition.name} health", docs_url=None,
                  redoc_url=None, openapi_url=None)
    app.include_router(health_router(runtime))
    return app


class _Server(uvicorn.Server):
    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The service's entry owns SIGTERM/SIGINT and stops this server itself; uvicorn's
        # own handlers would replace the event loop's.
        yield


class HealthServer:
    """The health endpoints on their own port, started before the service so that /livez
    answers (and /readyz says "not started") while migrations and topics are set up."""

    def __init__(self, runtime: ServiceRuntime, host: str, port: int) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._socket = socket.create_server((host, port), family=family)
        self.port: int = self._socket.getsockname()[1]
        config = uvicorn.Config(health_app(runtime), log_level="warning", lifespan="off",
                                access_log=False)
        self._server = _Server(config)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]))
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError("the health server stopped while starting")
            await asyncio.sleep(0.01)
        log.info("health_server_listening", port=self.port)

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            await self._task
        self._socket.close()
