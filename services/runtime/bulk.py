"""Inserting many rows in one statement: one array parameter per column, zipped back
into rows.

executemany sends a bind-and-execute per row and PostgreSQL runs the statement once per
row; ``INSERT … SELECT FROM ROWS FROM (arrays)`` is one execution whatever the number of
rows, and one cached statement whatever the batch size (a multi-row VALUES list is a new
statement, compiled and planned, for every size). A column's array travels as JSON text
(``column_arrays``), a bytea column's as a bytea array.
"""

from collections.abc import Sequence
from decimal import Decimal
from functools import cache
from typing import Any

import orjson
from sqlalchemy import LargeBinary, Table, TextClause, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import JSON

_DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]


class JsonText(str):
    """A JSON column's value already encoded: sent as it is."""


@cache
def insert_statement(table: Table, columns: tuple[str, ...], on_conflict: str = "",
                     returning: str = "") -> TextClause:
    """``INSERT`` of ``columns`` from arrays named after them, rows kept in array order.

    ``on_conflict``: an ``ON CONFLICT …`` clause, e.g. ``ON CONFLICT DO NOTHING``;
    ``returning``: the columns to return, e.g. ``event_id``.
    """
    return text(_insert_sql(table, columns, on_conflict) +
                (f" RETURNING {returning}" if returning else ""))


REDELIVERED = "sinergi-redelivered:"
"""What the commit statement's error names when its inbox claim met an event handled
before (see ``commit_statement``)."""

Part = tuple[Table, tuple[str, ...], str]
"""A table, the columns given, and the ``ON CONFLICT`` clause: one insert of ``inserts``."""


@cache
def inserts_statement(parts: tuple[Part, ...]) -> TextClause:
    """The inserts of ``parts`` as one statement (the first ones as ``WITH`` clauses), so
    several tables' rows cost one round trip. Part ``i``'s arrays are named ``p<i>_<column>``
    (see ``inserts_parameters``). The parts run on one snapshot and none sees another's
    rows; foreign keys are checked at the end of the statement, so a part may refer to
    rows another part inserts."""
    sql = [_insert_sql(table, columns, on_conflict, f"p{i}_")
           for i, (table, columns, on_conflict) in enumerate(parts)]
    if len(sql) == 1:
        return text(sql[0])
    clauses = ", ".join(f"w{i} AS ({s})" for i, s in enumerate(sql[:-1]))
    return text(f"WITH {clauses} {sql[-1]}")


# Transaction-scoped advisory locks on ``lock_keys`` under the namespace ``lock_ns``, taken
# in the array's order (the caller sorts it). MATERIALIZED and joined to the outbox
# insert's rows: no row reaches that insert, nor takes an id from its sequence, before
# every lock is held.
_LOCKS = ("locked AS MATERIALIZED (SELECT count(pg_advisory_xact_lock(hashtext(:lock_ns), "
          "hashtext(k))) AS locks FROM unnest(CAST(:lock_keys AS text[])) AS u(k))")


@cache
def commit_statement(parts: tuple[Part, ...], claim: Part | None,
                     outbox: Part | None, unsent: Table) -> TextClause:
    """A transaction's writes at commit in one statement: the rows of ``parts``, the inbox
    rows of ``claim`` (``ON CONFLICT DO NOTHING``), the ``outbox`` rows with their key
    locks (``_LOCKS``), and their ids in ``unsent`` (the outbox's list of rows not yet
    sent). With a claim, ``claim_expected`` is how many inbox rows
    it must insert: fewer, and the statement fails with ``REDELIVERED`` in its error. Its
    rows: with a claim, one ``(NULL, number of inbox rows inserted)``; then ``(id, NULL)``
    per outbox row, in no particular order (the ids are allocated in row order); none
    (``inserts_statement``) without either. Parameters are named as ``inserts_parameters``
    names them for ``parts``, then ``claim``, then ``outbox``."""
    if claim is None and outbox is None:
        return inserts_statement(parts)
    ctes = [f"w{i} AS ({_insert_sql(t, c, oc, f'p{i}_')})" for i, (t, c, oc) in enumerate(parts)]
    selects, i = [], len(parts)
    if claim is not None:
        ctes.append(f"claimed AS ({_insert_sql(*claim, f'p{i}_')} RETURNING 1)")
        # Fewer rows claimed than asked for (some handled before) fails the statement, so
        # it commits nothing even when it is a transaction of its own (``REDELIVERED``).
        # Not a constant: PostgreSQL would fold the cast, and fail, when planning.
        selects.append("SELECT NULL::bigint AS id, CASE WHEN count(*) = :claim_expected "
                       f"THEN count(*) ELSE CAST('{REDELIVERED}' || count(*) AS bigint) END "
                       "AS claimed FROM claimed")
        i += 1
    if outbox is not None:
        ctes = [_LOCKS, *ctes,
                f"written AS ({_insert_sql(*outbox, f'p{i}_', join=', locked')} "
                "RETURNING id)",
                f"listed AS (INSERT INTO {unsent.fullname} (id) SELECT id FROM written)"]
        selects.append("SELECT id, NULL::bigint FROM written")
    return text(f"WITH {', '.join(ctes)} {' UNION ALL '.join(selects)}")


def inserts_parameters(parts: Sequence[tuple[Part, Sequence[dict[str, Any]]]]
                       ) -> dict[str, list[Any]]:
    """The parameters of ``inserts_statement``: each part's rows, as in ``column_arrays``."""
    params: dict[str, list[Any]] = {}
    for i, ((table, columns, _), rows) in enumerate(parts):
        params.update((f"p{i}_{name}", values)
                      for name, values in column_arrays(table, columns, rows).items())
    return params


def _insert_sql(table: Table, columns: tuple[str, ...], on_conflict: str,
                prefix: str = "", join: str = "") -> str:
    # Each column's values arrive as one JSON array (bytes as a bytea array), zipped by ROWS
    # FROM in array order. Why JSON: asyncpg encodes an array element by element, checking
    # each against collections.abc, ~0.25 µs an element of the service's own CPU; orjson
    # writes the whole array at ~0.04 and PostgreSQL parses it for ~0.2 more of its CPU. The
    # service's process is what bounds a service draining alone; the machine's total is
    # about the same either way.
    sources, values = [], []
    for name in columns:
        column_type = table.c[name].type
        param = f":{prefix}{name}"
        if isinstance(column_type, LargeBinary):
            sources.append(f"unnest(CAST({param} AS bytea[]))")
            values.append(name)
        else:
            sources.append(f"jsonb_array_elements_text(CAST({param} AS jsonb))")
            target = "jsonb" if isinstance(column_type, JSON) else column_type.compile(
                dialect=_DIALECT)
            values.append(f"CAST({name} AS {target})")
    names = ", ".join(columns)
    return (f"INSERT INTO {table.fullname} ({names}) SELECT {', '.join(values)} "
            f"FROM ROWS FROM ({', '.join(sources)}) WITH ORDINALITY AS u({names}, n){join} "
            f"ORDER BY n {on_conflict}")


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not a column value bulk inserts can send")


def column_arrays(table: Table, columns: tuple[str, ...],
                  rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The parameters of ``insert_statement``: each column's values, in row order, as one
    JSON array (a list of bytes for a bytea column); a JSON column's values as JSON text."""
    arrays: dict[str, Any] = {}
    for name in columns:
        values = [row[name] for row in rows]
        column_type = table.c[name].type
        if isinstance(column_type, LargeBinary):
            arrays[name] = values
            continue
        if isinstance(column_type, JSON):
            values = [v if v is None or type(v) is JsonText else orjson.dumps(v).decode()
                      for v in values]
        arrays[name] = orjson.dumps(values, default=_json_default,
                                    option=orjson.OPT_NAIVE_UTC).decode()
    return arrays
