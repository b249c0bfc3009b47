"""The timeline's HTTP API: households' timelines, SLA breaches, the province funnel.

Every endpoint but ``/healthz`` wants an agency token (``services.runtime.auth``). A
timeline holds only the entries the agency may see; a report answers the agencies that see
the event type it reports on (``REPORTS_ON``), so public works gets the flags and tickets
lists, education the dropout risks, social and operators everything.
"""

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts.regions import local_date
from services.runtime.auth import AgencyTokens, forbidden, may_see, visible_types
from services.runtime.settings import Settings
from services.timeline.page import page_routes
from services.timeline.queries import (
    DROPOUT_RISK,
    FLAGGED,
    REGISTERED,
    STAGES,
    TICKET_OPENED,
    flags_without_ticket,
    funnel,
    household_timeline,
    is_household_ref,
    risks_without_follow_up,
    tickets_past_due,
)

Hours = Annotated[float, Query(ge=0, le=24 * 366, description="Flags older than this many hours")]
Today = Annotated[date | None, Query(description="The day to judge due dates by (today in "
                                                 "WITA, UTC+8)")]

REPORTS_ON = {"/sla/flags-without-ticket": FLAGGED, "/sla/tickets-past-due": TICKET_OPENED,
              "/sla/risks-without-follow-up": DROPOUT_RISK, "/funnel": REGISTERED}
"""Report -> the event type it lists; an agency that may not see that type may not ask."""


def create_app(engine: AsyncEngine, tokens: AgencyTokens | None = None) -> FastAPI:
    """The API and pages; ``tokens`` default to ``SINERGI_API_TOKENS``."""
    # No /docs, /redoc or /openapi.json: unauthenticated pages loading scripts from a CDN.
    app = FastAPI(title="Sinergi timeline", version="1", docs_url=None, redoc_url=None,
                  openapi_url=None)
    known = tokens if tokens is not None else \
        AgencyTokens.parse(Settings().api_tokens.get_secret_value())

    def reader(request: Request) -> str:
        agency = known.require(request)
        if not visible_types(agency):
            raise forbidden("the timeline")
        return agency

    def report(path: str) -> Any:
        """``@app.get(path)`` for a report, refused to agencies that may not see its type."""
        def allowed(request: Request) -> None:
            if not may_see(known.require(request), REPORTS_ON[path]):
                raise forbidden(path)
        return app.get(path, dependencies=[Depends(allowed)])

    Reader = Annotated[str, Depends(reader)]

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/households/{household_ref}/timeline")
    async def get_timeline(household_ref: str, agency: Reader) -> dict[str, Any]:
        if not is_household_ref(household_ref):
            raise HTTPException(422, detail="household_ref must be h- and 32 lowercase hex "
                                            "digits")
        async with engine.connect() as conn:
            entries = [e for e in await household_timeline(conn, household_ref)
                       if may_see(agency, e["type"])]
        if not entries:
            raise HTTPException(404, detail=f"no timeline entries for household {household_ref}")
        return {"household_ref": household_ref, "entries": entries}

    @report("/sla/flags-without-ticket")
    async def get_flags_without_ticket(hours: Hours = 24) -> dict[str, Any]:
        now = datetime.now(UTC)
        async with engine.connect() as conn:
            flags = await flags_without_ticket(conn, timedelta(hours=hours), now)
        return {"older_than_hours": hours, "as_of": now.isoformat(), "count": len(flags),
                "flags": flags}

    @report("/sla/tickets-past-due")
    async def get_tickets_past_due(today: Today = None) -> dict[str, Any]:
        day = today or local_date(datetime.now(UTC))
        async with engine.connect() as conn:
            tickets = await tickets_past_due(conn, day)
        return {"today": day.isoformat(), "count": len(tickets), "tickets": tickets}

    @report("/sla/risks-without-follow-up")
    async def get_risks_without_follow_up() -> dict[str, Any]:
        async with engine.connect() as conn:
            risks = await risks_without_follow_up(conn)
        return {"count": len(risks), "risks": risks}

    @report("/funnel")
    async def get_funnel() -> dict[str, Any]:
        async with engine.connect() as conn:
            regions = await funnel(conn)
        totals = {stage: sum(r[stage] for r in regions) for stage in STAGES}
        return {"stages": list(STAGES), "regions": regions, "totals": totals}

    app.include_router(page_routes(engine, known))
    return app
