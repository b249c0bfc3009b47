"""The timeline's HTTP API."""

from typing import Any

from fastapi import FastAPI, HTTPException
from sqlalchemy.ext.asyncio import AsyncEngine

from services.timeline.queries import household_timeline


def create_app(engine: AsyncEngine) -> FastAPI:
    app = FastAPI(title="Sinergi timeline", version="1")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/households/{household_ref}/timeline")
    async def get_timeline(household_ref: str) -> dict[str, Any]:
        async with engine.connect() as conn:
            entries = await household_timeline(conn, household_ref)
        if not entries:
            raise HTTPException(404, detail=f"no timeline entries for household {household_ref}")
        return {"household_ref": household_ref, "entries": entries}

    return app
