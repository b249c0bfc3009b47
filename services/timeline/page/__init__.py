"""The timeline as agency staff read it: a household's page and the province overview (HTML).

Server-rendered, no JavaScript, nothing loaded from outside: the chart is inline SVG. Labels
come from ``services.timeline.i18n`` (Bahasa Indonesia by default, ``?lang=en`` for English).
Pages want an agency's token (the ``sinergi_token`` cookie from ``/login``, or a bearer
header): a household page shows the entries that agency may see; the overview, which holds
the funnel, is for the agencies that see registrations (social, operators).
"""

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncEngine

from services.runtime.auth import AgencyTokens, may_see, visible_types
from services.timeline import i18n
from services.timeline.page.household import household_page
from services.timeline.page.login import refused, sign_in, sign_out
from services.timeline.page.markup import household_href, link
from services.timeline.page.overview import overview_page
from services.timeline.queries import REGISTERED, household_timeline

STATIC = Path(__file__).parents[1] / "static"
Lang = Annotated[str | None, Query(description="Page language: id (default) or en")]


def page_routes(engine: AsyncEngine, tokens: AgencyTokens) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    css = (STATIC / "page.css").read_text("utf-8")

    def here(request: Request) -> str:
        query = f"?{request.url.query}" if request.url.query else ""
        return f"{request.url.path}{query}"

    @router.get("/", response_class=HTMLResponse)
    @router.get("/overview", response_class=HTMLResponse)
    async def overview(request: Request, lang: Lang = None) -> HTMLResponse:
        agency, language = tokens.caller(request, cookie=True), i18n.lang_of(lang)
        if agency is None or not may_see(agency, REGISTERED):
            return refused(language, here(request), 401 if agency is None else 403)
        return HTMLResponse(await overview_page(engine, language))

    @router.api_route("/login", methods=["GET", "POST"], response_class=HTMLResponse)
    async def login(request: Request, lang: Lang = None) -> Response:
        return await sign_in(request, tokens, i18n.lang_of(lang))

    @router.get("/logout")
    async def logout(lang: Lang = None) -> RedirectResponse:
        return sign_out(i18n.lang_of(lang))

    @router.get("/households")
    async def find_household(ref: str = "", lang: Lang = None) -> RedirectResponse:
        target = household_href(ref.strip(), i18n.lang_of(lang)) if ref.strip() \
            else link("/", i18n.lang_of(lang))
        return RedirectResponse(target, status_code=303)

    @router.get("/households/{household_ref}", response_class=HTMLResponse)
    async def household(request: Request, household_ref: str, lang: Lang = None) -> HTMLResponse:
        agency, language = tokens.caller(request, cookie=True), i18n.lang_of(lang)
        if agency is None or not visible_types(agency):
            return refused(language, here(request), 401 if agency is None else 403)
        async with engine.connect() as conn:
            entries = [e for e in await household_timeline(conn, household_ref)
                       if may_see(agency, e["type"])]
        body = household_page(household_ref, entries, language)
        return HTMLResponse(body, status_code=200 if entries else 404)

    @router.get("/static/timeline/page.css")
    async def stylesheet() -> Response:
        return Response(css, media_type="text/css",
                        headers={"Cache-Control": "public, max-age=300"})

    return router
