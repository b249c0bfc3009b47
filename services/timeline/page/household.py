"""A household's page: its status panel and its entries, each linked to the entry it caused."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.timeline import i18n
from services.timeline.i18n import t
from services.timeline.page.markup import Html, household_href, join, link, page, render, tag
from services.timeline.queries import (
    DROPOUT_RISK,
    ENROLLED,
    FLAGGED,
    FOLLOW_UP,
    GRADUATED,
    GRANT_AWARDED,
    REGISTERED,
    RESOLVED,
)

REENGAGED = "education.pupil.reengaged.v1"
NEED_STATES = {FLAGGED: "waiting", "public_works.ticket.opened.v1": "opened",
               "public_works.ticket.scheduled.v1": "scheduled",
               "public_works.ticket.started.v1": "in_progress",
               "public_works.ticket.completed.v1": "completed",
               "public_works.ticket.rejected.v1": "rejected", RESOLVED: "resolved"}


@dataclass
class HouseholdStatus:
    region_code: str | None = None
    needs: dict[str, str] = field(default_factory=dict)
    """Housing need -> where it stands: waiting, opened, ..., resolved (the last event wins)."""
    enrolled: set[str] = field(default_factory=set)
    at_risk: dict[str, bool] = field(default_factory=dict)
    """Child at dropout risk (not re-engaged since) -> whether Dinsos opened a follow-up."""
    grant_amount: int | None = None
    graduated_on: str | None = None


def household_status(entries: Sequence[Mapping[str, Any]]) -> HouseholdStatus:
    """What a household's entries, oldest first, say about where its case stands."""
    status = HouseholdStatus()
    for entry in entries:
        kind, data = entry["type"], entry["data"]
        person = data.get("person_ref", "")
        if kind == REGISTERED:
            status.region_code = data.get("region_code")
        elif kind == FLAGGED:
            status.needs.update(dict.fromkeys(data.get("needs", []), "waiting"))
        elif kind in NEED_STATES and "need" in data:
            status.needs[data["need"]] = NEED_STATES[kind]
        elif kind == ENROLLED:
            status.enrolled.add(person)
        elif kind == DROPOUT_RISK:
            status.at_risk[person] = False
        elif kind == FOLLOW_UP and person in status.at_risk:
            status.at_risk[person] = True
        elif kind == REENGAGED:
            status.at_risk.pop(person, None)
        elif kind == GRANT_AWARDED:
            status.grant_amount = data.get("amount")
        elif kind == GRADUATED:
            status.graduated_on = data.get("graduated_on")
    return status


def status_cards(status: HouseholdStatus, lang: str) -> Html:
    def card(key: str, state: str, value: object, detail: object = "") -> Html:
        return tag("div", join([tag("h3", t(key, lang)), tag("p", value, class_="value"),
                                detail]), class_=f"card {state}", data_status=key)

    open_needs = [n for n, s in status.needs.items() if s != "resolved"]
    needs = join(tag("li", join([t(f"need.{n}", lang), " ", tag(
        "span", t(f"need.state.{s}", lang), class_=f"badge {s}")]), data_need=n)
        for n, s in status.needs.items())
    housing = t("status.housing.summary", lang, open=len(open_needs),
                resolved=len(status.needs) - len(open_needs)) if status.needs \
        else t("status.housing.none", lang)
    risky = list(status.at_risk)
    children = join(tag("li", join([i18n.short(p), " ", tag("span", t(
        "status.child.followed" if followed else "status.child.not_followed", lang),
        class_="badge " + ("opened" if followed else "waiting"))]))
        for p, followed in status.at_risk.items())
    return join([
        card("status.housing", "warn" if open_needs else "ok", housing, tag("ul", needs)),
        card("status.children", "warn" if risky else "ok",
             t("status.children.at_risk", lang, count=len(risky)) if risky
             else t("status.children.none_at_risk", lang),
             join([tag("p", t("status.children.enrolled", lang, count=len(status.enrolled))),
                   tag("ul", children)])),
        card("status.grant", "ok" if status.grant_amount else "neutral",
             t("status.grant.yes", lang, amount=i18n.rupiah(status.grant_amount))
             if status.grant_amount else t("status.grant.no", lang)),
        card("status.graduated", "ok" if status.graduated_on else "neutral",
             t("status.graduated.yes", lang, date=i18n.day(status.graduated_on, lang))
             if status.graduated_on else t("status.graduated.no", lang)),
    ])


def entry_rows(entries: Sequence[Mapping[str, Any]], lang: str) -> Html:
    by_id = {e["event_id"]: e for e in entries}
    rows = []
    for e in entries:
        cause_id = e["causation_id"]
        caused: str
        if cause_id in by_id:
            cause = by_id[cause_id]
            caused = tag("a", join([i18n.event_label(cause["type"], lang), tag(
                "span", i18n.clock(cause["time"], lang), class_="when")]),
                href=f"#e-{cause_id}", class_="cause")
        else:
            caused = t("cause.outside", lang, id=cause_id[-8:]) if cause_id \
                else t("cause.none", lang)
        agency = e["agency"]
        rows.append(tag("tr", join([
            tag("td", i18n.clock(e["time"], lang), class_="time"),
            tag("td", tag("span", agency, class_="agency"), data_agency=agency),
            tag("td", join([i18n.event_label(e["type"], lang), tag("code", e["type"])]),
                class_="event"),
            tag("td", i18n.summary(e["type"], e["data"], lang, e["summary"]), class_="summary"),
            tag("td", caused, class_="caused-by"),
        ]), id=f"e-{e['event_id']}", data_type=e["type"]))
    return join(rows)


def household_page(ref: str, entries: Sequence[Mapping[str, Any]], lang: str) -> Html:
    path = household_href(ref, i18n.DEFAULT_LANG)
    if not entries:
        main = join([tag("h1", t("household.title", lang)), tag("p", t(
            "household.missing", lang, ref=ref), class_="missing"),
            tag("p", tag("a", t("household.missing.hint", lang), href=link("/", lang)))])
        return page(lang, t("household.title", lang), main, path)
    status = household_status(entries)
    columns = ("col.time", "col.agency", "col.event", "col.summary", "col.cause")
    main = render(
        "household.html", heading=t("household.title", lang), ref=ref,
        region_label=t("household.region", lang), region=i18n.region(status.region_code),
        entry_count=t("household.entries", lang, count=len(entries),
                      agencies=len({e["agency"] for e in entries})),
        status_title=t("status.title", lang), cards=status_cards(status, lang),
        entries_title=t("household.history", lang),
        columns=join(tag("th", t(c, lang), scope="col") for c in columns),
        rows=entry_rows(entries, lang),
    )
    return page(lang, f"{t('household.title', lang)} {i18n.short(ref, 8)}", main, path)
