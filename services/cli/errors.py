"""One clear line and an exit code for the user, never a traceback."""

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console

err = Console(stderr=True, soft_wrap=True)


class UserError(Exception):
    """A failure the user can act on; its message says how."""


@contextmanager
def friendly_errors() -> Iterator[None]:
    try:
        yield
    except KeyboardInterrupt:
        err.print("interrupted", style="red")
        raise typer.Exit(130) from None
    except (UserError, OSError, TimeoutError) as exc:
        err.print(f"error: {str(exc) or type(exc).__name__}", style="red", markup=False,
                  highlight=False)
        raise typer.Exit(1) from None
    except Exception as exc:  # broker or database client errors
        err.print(f"error: {type(exc).__name__}: {exc}".splitlines()[0], style="red",
                  markup=False, highlight=False)
        raise typer.Exit(1) from None
