"""``sinergi``: the operator's command line."""

import asyncio
import sys
from pathlib import Path
from typing import cast

import typer
from rich.console import Console

from services.cli import contracts_cmd, dlq, ops
from services.cli.environment import DATABASE_ONLY, cli_settings
from services.cli.errors import UserError, friendly_errors
from services.cli.ops import database
from services.cli.render import timeline_table
from services.cli.reports import reports_app
from services.stack import Stack, stack_dir
from services.stack.cli import stack_app
from services.stack.stack import PARTS, Part
from services.timeline.queries import household_timeline

app = typer.Typer(
    help="Sinergi: one intervention timeline per household across agencies.",
    no_args_is_help=True, pretty_exceptions_enable=False,
)
app.add_typer(stack_app, name="stack")
app.add_typer(reports_app, name="reports")
ops.register(app)
dlq.register(app)
contracts_cmd.register(app)
console = Console(width=None if sys.stdout.isatty() else 140)


@app.command()
def demo(
    households: int = typer.Option(200, "--households", "-n", min=1,
                                   help="How many households the province has (size flag)."),
    seed: int = typer.Option(2024, help="Seed of the synthetic province."),
    out: Path = typer.Option(Path("demo-output"), help="Where the funnel chart is written."),
) -> None:
    """A synthetic year of East Kalimantan through the real services, then clean up."""
    from services.demo.run import run_demo

    with friendly_errors():
        stack = Stack()
        was_running = {s.name.split("-")[0] for s in stack.status() if s.state == "running"}
        if not was_running:
            # A stack of its own, from empty data, in a folder of its own: data kept with
            # 'sinergi stack down' stays as it was.
            stack = Stack(stack_dir() / "demo")
            stack.down(purge=True)
        console.print("Provisioning Kafka (KRaft) and PostgreSQL ...")
        stack.up()
        started: list[Part] = [cast(Part, p) for p in PARTS if p not in was_running and any(
            s.name.split("-")[0] == p for s in stack.status() if s.state == "running")]
        for status in stack.status():
            console.print(f"  {status.name}: {status.state} at {status.address}")
        try:
            run_demo(cli_settings(stack.env() if not was_running else None), households, seed,
                     out, stack.root / "logs")
        finally:
            if not was_running:
                stack.down(purge=True)
                console.print("Stack stopped and its data removed; no process left running.")
            elif started:
                for part in started:
                    stack.stop_part(part)
                console.print(f"Stopped what the demo started ({', '.join(started)}), data kept.")


@app.command()
def timeline(household_ref: str = typer.Argument(..., help="The household ref, h-…")) -> None:
    """Print one household's timeline."""
    with friendly_errors():
        rows = asyncio.run(_timeline(household_ref))
        if not rows:
            raise UserError(f"no timeline entries for household {household_ref}")
        console.print(timeline_table(household_ref, rows))


async def _timeline(ref: str) -> list[dict]:
    async with database(cli_settings(need=DATABASE_ONLY).database_url) as conn:
        return await household_timeline(conn, ref)


async def _reachable(url: str) -> None:
    async with database(url):
        pass


@app.command()
def migrate() -> None:
    """Bring every service's schema (and the operators' one) to its newest migration."""
    from services.demo.deployment import all_definitions
    from services.runtime.db import migrate_sync

    with friendly_errors():
        settings = cli_settings(need=DATABASE_ONLY)
        asyncio.run(_reachable(settings.database_url))
        for d in all_definitions(settings).values():
            migrate_sync(settings.database_url, d.migrations, d.tables.schema)
            console.print(f"{d.name}: migrated")
        migrate_sync(settings.database_url, Path(__file__).parent / "migrations", "operations")
        console.print("operations: migrated")
