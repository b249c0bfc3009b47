"""``sinergi stack up|down|status|env`` — the local Kafka + PostgreSQL stack."""

from __future__ import annotations

import json
import logging
import shlex
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict

import typer
from rich.console import Console
from rich.table import Table

from .common import StackError
from .stack import Stack

stack_app = typer.Typer(
    help="Local Kafka (KRaft) + PostgreSQL for development and tests.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
out = Console(width=None if sys.stdout.isatty() else 160)  # piped: do not fold the URLs
err = Console(stderr=True, soft_wrap=True)
_verbose = {"on": False}
STYLE = {"running": "green", "external": "cyan", "stopped": "red"}


@stack_app.callback()
def _options(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show progress and error detail."),
) -> None:
    _verbose["on"] = verbose
    if verbose:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        logging.getLogger("aiokafka").setLevel(logging.WARNING)


@contextmanager
def _errors() -> Iterator[None]:
    """One clear line on stderr and exit code 1 instead of a traceback."""
    try:
        yield
    except KeyboardInterrupt:
        err.print("interrupted", style="red")
        raise typer.Exit(130) from None
    except Exception as exc:
        text = str(exc) or type(exc).__name__
        first, _, detail = text.partition("\n")
        if not isinstance(exc, StackError):
            first = f"{type(exc).__name__}: {first}"
        err.print(f"error: {first}", style="red", markup=False, highlight=False)
        if detail and _verbose["on"]:
            err.print(detail, style="dim", markup=False, highlight=False)
        elif detail:
            err.print("(run with 'stack -v ...' for details)", style="dim")
        raise typer.Exit(1) from None


def _status_table(stack: Stack) -> Table:
    table = Table(show_header=True, header_style="bold")
    for column in ("part", "state", "address", "pid"):
        table.add_column(column, overflow="fold")
    for part in stack.status():
        state = f"[{STYLE.get(part.state, 'white')}]{part.state}[/]"
        table.add_row(part.name, state, part.address or "-", str(part.pid or "-"))
    return table


def _run(action: Callable[[], None]) -> None:
    with _errors():
        action()


@stack_app.command()
def up(
    timeout: float = typer.Option(90.0, help="Seconds to wait for each server."),
    brokers: int = typer.Option(None, min=1, help="Kafka nodes (3: a replicated cluster with a "
                                "3-voter KRaft quorum). Default: as recorded, else 1."),
    secured: bool = typer.Option(None, "--secured/--open", help="SASL/SCRAM logins and ACLs "
                                 "from contracts/access.py. Default: as recorded, else open."),
) -> None:
    """Start Kafka and PostgreSQL (reusing a running stack or external servers)."""

    def action() -> None:
        stack, began = Stack(brokers=brokers, secured=secured), time.monotonic()
        stack.up(timeout=timeout)
        out.print(_status_table(stack))
        out.print(f"stack up in {time.monotonic() - began:.1f}s; state: {stack.state_file}")
        if stack.config["secured"]:
            out.print(f"logins (development only): {stack.root / 'kafka' / 'credentials.json'}")
        out.print('use it in a shell with: eval "$(sinergi stack env)"', style="dim")

    _run(action)


@stack_app.command()
def down(purge: bool = typer.Option(False, help="Also delete Kafka and PostgreSQL data.")) -> None:
    """Stop what 'up' started (never external servers)."""

    def action() -> None:
        stopped = Stack().down(purge=purge)
        out.print(f"stopped: {', '.join(stopped) or 'nothing was running'}")
        if purge:
            out.print("data deleted")

    _run(action)


@stack_app.command()
def status(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Show each part: running, stopped or external, with its address."""

    def action() -> None:
        stack = Stack()
        if as_json:
            typer.echo(json.dumps([asdict(part) for part in stack.status()], indent=2))
        else:
            out.print(_status_table(stack))

    _run(action)


@stack_app.command()
def env() -> None:
    """Print 'export VAR=value' lines for the running stack (eval "$(sinergi stack env)")."""

    def action() -> None:
        for name, value in Stack().env().items():
            typer.echo(f"export {name}={shlex.quote(value)}")

    _run(action)
