"""The timeline as agency staff read it: a household's page and the province overview (HTML).

Server-rendered, no JavaScript, nothing loaded from outside: the chart is inline SVG. Labels
come from ``services.timeline.i18n`` (Bahasa Indonesia by default, ``?lang=en`` for English).
"""

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncEngine

from services.timeline import i18n
from services.timeline.page.household import household_page
from services.timeline.page.markup import household_href, link
from services.timeline.page.overview import overview_page
from services.timeline.queries import household_timeline

STATIC = Path(__file__).parents[1] / "static"
Lang = Annotated[str | None, Query(description="Page language: id (default) or en")]


def page_routes(engine: AsyncEngine) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    css = (STATIC / "page.css").read_text("utf-8")

    @router.get("/", response_class=HTMLResponse)
    @router.get("/overview", response_class=HTMLResponse)
    async def overview(lang: Lang = None) -> HTMLResponse:
        return HTMLResponse(await overview_page(engine, i18n.lang_of(lang)))

    @router.get("/households")
    async def find_household(ref: str = "", lang: Lang = None) -> RedirectResponse:
        target = household_href(ref.strip(), i18n.lang_of(lang)) if ref.strip() \
            else link("/", i18n.lang_of(lang))
        return RedirectResponse(target, status_code=303)

    @router.get("/households/{household_ref}", response_class=HTMLResponse)
    async def household(household_ref: str, lang: Lang = None) -> HTMLResponse:
        async with engine.connect() as conn:
            entries = await household_timeline(conn, household_ref)
        body = household_page(household_ref, entries, i18n.lang_of(lang))
        return HTMLResponse(body, status_code=200 if entries else 404)

    @router.get("/static/timeline/page.css")
    async def stylesheet() -> Response:
        return Response(css, media_type="text/css",
                        headers={"Cache-Control": "public, max-age=300"})

    return router
