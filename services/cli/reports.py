"""``sinergi reports``: the province funnel and the SLA breaches, from the timeline."""

import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncConnection

from contracts.regions import local_date
from services.cli.environment import DATABASE_ONLY, cli_settings
from services.cli.errors import friendly_errors
from services.cli.ops import database
from services.timeline.queries import (
    STAGES,
    flags_without_ticket,
    funnel,
    risks_without_follow_up,
    tickets_past_due,
)

reports_app = typer.Typer(help="Province-wide reports from the timeline.", no_args_is_help=True)
console = Console(width=None if sys.stdout.isatty() else 140)
T = TypeVar("T")


def funnel_table(rows: Sequence[dict[str, Any]]) -> Table:
    """One row per kabupaten/kota, one column per stage, and the province total."""
    table = Table(title="Households per stage, per kabupaten/kota", title_justify="left",
                  show_footer=True)
    table.add_column("BPS", footer="")
    table.add_column("kabupaten/kota", footer="East Kalimantan")
    for stage, label in STAGES.items():
        table.add_column(label, justify="right", footer=str(sum(r[stage] for r in rows)))
    for r in rows:
        table.add_row(r["region_code"], r["region_name"], *(str(r[s]) for s in STAGES))
    return table


def _sla_table(title: str, columns: Sequence[str], rows: list[dict[str, Any]], limit: int
               ) -> Table:
    shown = rows[:limit]
    more = f" (first {len(shown)} shown)" if len(shown) < len(rows) else ""
    table = Table(title=f"{title}: {len(rows)}{more}", title_justify="left")
    for column in columns:
        table.add_column(column)
    for r in shown:
        table.add_row(*(_cell(c, r[c]) for c in columns))
    return table


def _cell(column: str, value: Any) -> str:
    if column == "time":
        return f"{value[:19].replace('T', ' ')} UTC"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return "" if value is None else str(value)


async def _query(read: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    async with database(cli_settings(need=DATABASE_ONLY).database_url) as conn:
        return await read(conn)


@reports_app.command("funnel")
def funnel_command() -> None:
    """Distinct households at each stage, per kabupaten/kota."""
    with friendly_errors():
        console.print(funnel_table(asyncio.run(_query(funnel))))


@reports_app.command("sla")
def sla_command(
    hours: float = typer.Option(24, min=0, help="A flag without a ticket after this is late."),
    limit: int = typer.Option(20, min=1, help="At most this many rows per list."),
) -> None:
    """Flags without a ticket, tickets past due, dropout risks without a follow-up."""
    now = datetime.now(UTC)

    async def read(conn: AsyncConnection) -> tuple[list[dict[str, Any]], ...]:
        return (await flags_without_ticket(conn, timedelta(hours=hours), now),
                await tickets_past_due(conn, local_date(now)),
                await risks_without_follow_up(conn))

    with friendly_errors():
        flags, tickets, risks = asyncio.run(_query(read))
        console.print(_sla_table(
            f"Housing flags without a works ticket after {hours:g} h",
            ("time", "household_ref", "region_code", "hours_waiting", "needs_without_ticket"),
            flags, limit))
        console.print(_sla_table(
            f"Works tickets past due on {local_date(now)} (WITA)",
            ("due_on", "days_overdue", "ticket_id", "household_ref", "need"), tickets, limit))
        console.print(_sla_table(
            "Dropout risks without a case follow-up",
            ("time", "household_ref", "person_ref", "month", "attendance_pct"), risks, limit))
