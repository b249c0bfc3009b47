"""Inserting many rows in one statement: one array parameter per column, unnested.

executemany sends a bind-and-execute per row and PostgreSQL runs the statement once per
row; ``INSERT … SELECT FROM unnest(arrays)`` is one execution whatever the number of rows,
and one cached statement whatever the batch size (a multi-row VALUES list is a new
statement, compiled and planned, for every size).
"""

from collections.abc import Sequence
from functools import cache
from typing import Any

import orjson
from sqlalchemy import Table, TextClause, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import JSON

_DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]


@cache
def insert_statement(table: Table, columns: tuple[str, ...], on_conflict: str = "",
                     returning: str = "") -> TextClause:
    """``INSERT`` of ``columns`` from arrays named after them, rows kept in array order.

    ``on_conflict``: an ``ON CONFLICT …`` clause, e.g. ``ON CONFLICT DO NOTHING``;
    ``returning``: the columns to return, e.g. ``event_id``.
    """
    casts = []
    for name in columns:
        column_type = table.c[name].type
        if isinstance(column_type, JSON):  # sent as text, each element cast to jsonb
            casts.append(f"CAST(CAST(:{name} AS text[]) AS jsonb[])")
        else:
            casts.append(f"CAST(:{name} AS {column_type.compile(dialect=_DIALECT)}[])")
    names = ", ".join(columns)
    return text(
        f"INSERT INTO {table.fullname} ({names}) SELECT {names} "
        f"FROM unnest({', '.join(casts)}) WITH ORDINALITY AS u({names}, n) ORDER BY n "
        f"{on_conflict}" + (f" RETURNING {returning}" if returning else ""))


def column_arrays(table: Table, columns: tuple[str, ...],
                  rows: Sequence[dict[str, Any]]) -> dict[str, list[Any]]:
    """The parameters of ``insert_statement``: each column's values, in row order."""
    arrays = {}
    for name in columns:
        values = [row[name] for row in rows]
        if isinstance(table.c[name].type, JSON):
            values = [None if v is None else orjson.dumps(v).decode() for v in values]
        arrays[name] = values
    return arrays
