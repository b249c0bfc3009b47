"""The timeline's HTTP API: households' timelines, SLA breaches, the province funnel."""

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query
from sqlalchemy.ext.asyncio import AsyncEngine

from services.timeline.page import page_routes
from services.timeline.queries import (
    STAGES,
    flags_without_ticket,
    funnel,
    household_timeline,
    risks_without_follow_up,
    tickets_past_due,
)

Hours = Annotated[float, Query(ge=0, le=24 * 366, description="Flags older than this many hours")]
Today = Annotated[date | None, Query(description="The day to judge due dates by (UTC today)")]


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

    @app.get("/sla/flags-without-ticket")
    async def get_flags_without_ticket(hours: Hours = 24) -> dict[str, Any]:
        now = datetime.now(UTC)
        async with engine.connect() as conn:
            flags = await flags_without_ticket(conn, timedelta(hours=hours), now)
        return {"older_than_hours": hours, "as_of": now.isoformat(), "count": len(flags),
                "flags": flags}

    @app.get("/sla/tickets-past-due")
    async def get_tickets_past_due(today: Today = None) -> dict[str, Any]:
        day = today or datetime.now(UTC).date()
        async with engine.connect() as conn:
            tickets = await tickets_past_due(conn, day)
        return {"today": day.isoformat(), "count": len(tickets), "tickets": tickets}

    @app.get("/sla/risks-without-follow-up")
    async def get_risks_without_follow_up() -> dict[str, Any]:
        async with engine.connect() as conn:
            risks = await risks_without_follow_up(conn)
        return {"count": len(risks), "risks": risks}

    @app.get("/funnel")
    async def get_funnel() -> dict[str, Any]:
        async with engine.connect() as conn:
            regions = await funnel(conn)
        totals = {stage: sum(r[stage] for r in regions) for stage in STAGES}
        return {"stages": list(STAGES), "regions": regions, "totals": totals}

    app.include_router(page_routes(engine))
    return app
