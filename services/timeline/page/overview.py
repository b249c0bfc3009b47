"""The province overview: the funnel per kabupaten/kota (table and chart) and SLA breaches."""

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from contracts.regions import local_date
from services.timeline import i18n
from services.timeline.i18n import t
from services.timeline.page.chart import STAGE_COLOURS, funnel_chart
from services.timeline.page.markup import Html, household_href, join, page, render, tag
from services.timeline.queries import (
    STAGES,
    flags_without_ticket,
    funnel,
    risks_without_follow_up,
    tickets_past_due,
)

SLA_HOURS = 24
SLA_ROWS = 25
"""Rows shown per SLA list; the rest are counted."""


def funnel_rows(regions: Sequence[Mapping[str, Any]], lang: str) -> tuple[Html, Html]:
    def cell(stage: str, n: int, base: int) -> Html:
        share = tag("span", f"{round(100 * n / base)}%", class_="pct") \
            if base and stage != "registered" else ""
        return tag("td", join([tag("span", n, class_="n" if n else "n zero"), share]),
                   data_stage=stage)

    def cells(counts: Mapping[str, Any]) -> Html:
        return join(cell(s, counts[s], counts["registered"]) for s in STAGES)

    rows = join(tag("tr", join([tag("th", join([r["region_name"], tag(
        "span", r["region_code"], class_="code")]), scope="row"), cells(r)]),
        data_region=r["region_code"]) for r in regions)
    totals = {s: sum(r[s] for r in regions) for s in STAGES}
    total = tag("tr", join([tag("th", t("overview.total", lang), scope="row"), cells(totals)]))
    return rows, total


def sla_list(key: str, rows: Sequence[Mapping[str, Any]], lang: str,
             columns: Sequence[tuple[str, Any]], **values: object) -> Html:
    head = join(tag("th", t(c, lang), scope="col") for c in ("sla.col.household",
                                                            *(c for c, _ in columns)))

    def row(r: Mapping[str, Any]) -> Html:
        ref = r["household_ref"]
        to_entry = tag("a", tag("code", ref), href=household_href(ref, lang, r["event_id"]))
        return tag("tr", join([tag("td", to_entry), *(tag("td", cell(r)) for _, cell in columns)]))

    body = join(row(r) for r in rows[:SLA_ROWS])
    more = tag("p", t("sla.more", lang, count=len(rows) - SLA_ROWS), class_="more") \
        if len(rows) > SLA_ROWS else ""
    table = tag("table", join([tag("thead", tag("tr", head)), tag("tbody", body)])) if rows \
        else tag("p", t("sla.none", lang), class_="none")
    title = join([t(key, lang, **values), " ", tag("span", len(rows), class_="count")])
    return tag("div", join([tag("h3", title), table, more]),
               class_="sla-list " + ("breached" if rows else "clear"), data_sla=key)


async def overview_page(engine: AsyncEngine, lang: str) -> Html:
    now = datetime.now(UTC)
    async with engine.connect() as conn:
        regions = await funnel(conn)
        flags = await flags_without_ticket(conn, timedelta(hours=SLA_HOURS), now)
        tickets = await tickets_past_due(conn, local_date(now))
        risks = await risks_without_follow_up(conn)
    for ticket in tickets:
        ticket["event_id"] = ticket["opened_event_id"]
    rows, total = funnel_rows(regions, lang)
    sla = join([
        sla_list("sla.flags", flags, lang, [
            ("overview.region", lambda r: i18n.region(r["region_code"])),
            ("sla.col.needs", lambda r: i18n.needs_text(r["needs_without_ticket"], lang)),
            ("sla.col.waiting", lambda r: t("sla.hours", lang, hours=round(r["hours_waiting"])))],
            hours=SLA_HOURS),
        sla_list("sla.tickets", tickets, lang, [
            ("overview.region", lambda r: i18n.region(r["region_code"])),
            ("sla.col.need", lambda r: t(f"need.{r['need']}", lang)),
            ("sla.col.due", lambda r: i18n.day(r["due_on"], lang)),
            ("sla.col.overdue", lambda r: i18n.days(r["days_overdue"], lang))]),
        sla_list("sla.risks", risks, lang, [
            ("sla.col.child", lambda r: i18n.short(r["person_ref"] or "")),
            ("sla.col.attendance", lambda r: f"{i18n.number(r['attendance_pct'], lang)}% "
                                             f"({i18n.month(r['month'], lang)})")]),
    ])
    main = render(
        "overview.html", heading=t("overview.title", lang),
        funnel_title=t("overview.funnel", lang), funnel_note=t("overview.funnel.note", lang),
        legend=join(tag("li", join([tag("span", "", class_="swatch",
                                        style=f"background:{STAGE_COLOURS[s]}"),
                                    t(f"stage.{s}", lang)])) for s in STAGES),
        chart=funnel_chart(regions, lang),
        columns=join(tag("th", t(c, lang), scope="col") for c in
                     ("overview.region", *(f"stage.{s}" for s in STAGES))),
        rows=rows, total=total, sla_title=t("overview.sla", lang), sla=sla,
    )
    return page(lang, t("overview.title", lang), main, "/")
