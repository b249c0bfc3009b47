"""``sinergi contracts export|check|snapshot``: the published contracts and their gate."""

from pathlib import Path

import typer
from rich.console import Console

from contracts import compat
from contracts.export import export, write_snapshot
from services.cli.errors import err, friendly_errors

SNAPSHOT = Path(compat.__file__).parent / "snapshot"
"""The last release's contracts, committed with the code."""

contracts_app = typer.Typer(
    help="JSON Schema and AsyncAPI export; the backward-compatibility check.",
    no_args_is_help=True, pretty_exceptions_enable=False,
)
out = Console(soft_wrap=True, highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(contracts_app, name="contracts")


@contracts_app.command("export")
def export_command(
    to: Path = typer.Option(Path("build/contracts"), "--out", help="Folder to write into."),
) -> None:
    """Write a JSON Schema per event type, the catalogue and the AsyncAPI 3.0 document."""
    with friendly_errors():
        written = export(to)
        schemas = sum(1 for p in written if p.parent.name == "schemas")
        out.print(f"{schemas} event schemas in {to / 'schemas'}")
        out.print(f"AsyncAPI 3.0 document: {to / 'asyncapi.json'}")
        out.print(f"fields per topic: {to / 'topic-fields.md'}")
        out.print(f"catalogue: {to / 'catalogue.json'}; CloudEvents headers: "
                  f"{to / 'cloudevents-headers.json'}")


@contracts_app.command()
def check(
    snapshot: Path = typer.Option(SNAPSHOT, help="The last release's snapshot."),
    candidate: Path | None = typer.Option(
        None, help="Check an exported folder instead of the contracts in this code."),
) -> None:
    """Fail (exit 1) when the contracts are not backward compatible with the snapshot."""
    with friendly_errors():
        new = compat.load(candidate) if candidate else compat.current()
        problems = compat.compare(compat.load(snapshot), new)
    if problems:
        err.print(f"{len(problems)} backward-incompatible change(s) against {snapshot}:",
                  markup=False, highlight=False)
        for problem in problems:
            err.print(f"  {problem}", markup=False, highlight=False)
        err.print("Publish a new versioned type (…v2) next to the old one instead.",
                  markup=False, highlight=False)
        raise typer.Exit(1)
    out.print(f"contracts are backward compatible with {snapshot} "
              f"({len(new.schemas)} event types)")


@contracts_app.command()
def snapshot(
    to: Path = typer.Option(SNAPSHOT, "--out", help="Where the release snapshot lives."),
    allow_breaking: bool = typer.Option(
        False, help="Write it even if it breaks compatibility with the one there."),
) -> None:
    """Record the current contracts as the release snapshot (what a release does)."""
    with friendly_errors():
        existing = (to / "catalogue.json").exists() and not allow_breaking
        problems = compat.check(to) if existing else []
    if problems:
        err.print("refusing to snapshot: " + "; ".join(map(str, problems)),
                  markup=False, highlight=False)
        raise typer.Exit(1)
    with friendly_errors():
        written = write_snapshot(to)
    out.print(f"snapshot of {len(written) - 1} event types written to {to}")
