"""Bulk inserts' parameters: one JSON array per column, bytea columns as arrays of bytes."""

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import orjson
import pytest
from sqlalchemy import Column, Date, DateTime, Integer, LargeBinary, MetaData, Numeric, Table, Text
from sqlalchemy import Uuid as UuidType
from sqlalchemy.dialects.postgresql import JSONB

from services.runtime.bulk import JsonText, column_arrays, insert_statement

pytestmark = pytest.mark.unit

ROWS = Table("rows", MetaData(schema="unit_bulk"),
             Column("id", UuidType), Column("count", Integer), Column("pct", Numeric(4, 1)),
             Column("day", Date), Column("at", DateTime(timezone=True)), Column("name", Text),
             Column("doc", JSONB), Column("blob", LargeBinary))
COLUMNS = ("id", "count", "pct", "day", "at", "name", "doc", "blob")


def test_each_column_is_one_json_array_in_row_order_and_bytes_stay_bytes() -> None:
    ids = [uuid.uuid4(), uuid.uuid4()]
    rows = [dict(id=ids[0], count=1, pct=Decimal("84.5"), day=date(2026, 11, 29),
                 at=datetime(2026, 11, 29, 8, 0, tzinfo=UTC), name='a "quoted" name',
                 doc={"needs": ["sanitation"]}, blob=b"\x00\x01"),
            dict(id=ids[1], count=None, pct=Decimal("100.0"), day=date(2026, 12, 1),
                 at=datetime(2026, 12, 1, 0, 0), name="b", doc=JsonText('["x"]'), blob=b"")]
    params = column_arrays(ROWS, COLUMNS, rows)
    assert orjson.loads(params["id"]) == [str(i) for i in ids]
    assert orjson.loads(params["count"]) == [1, None]
    assert orjson.loads(params["pct"]) == ["84.5", "100.0"]
    assert orjson.loads(params["day"]) == ["2026-11-29", "2026-12-01"]
    # A naive time counts as UTC, as asyncpg would send it.
    assert orjson.loads(params["at"]) == ["2026-11-29T08:00:00+00:00", "2026-12-01T00:00:00+00:00"]
    assert orjson.loads(params["name"]) == ['a "quoted" name', "b"]
    assert [orjson.loads(d) for d in orjson.loads(params["doc"])] == [{"needs": ["sanitation"]},
                                                                       ["x"]]
    assert params["blob"] == [b"\x00\x01", b""]


def test_a_value_no_column_type_can_take_is_refused_by_name() -> None:
    with pytest.raises(TypeError, match="not JSON serializable: object"):
        column_arrays(ROWS, ("name",), [dict(name=object())])


def test_the_statement_zips_the_arrays_in_order_and_casts_each_column() -> None:
    sql = str(insert_statement(ROWS, COLUMNS, "ON CONFLICT DO NOTHING"))
    assert "ROWS FROM (jsonb_array_elements_text(CAST(:id AS jsonb))" in sql
    assert "unnest(CAST(:blob AS bytea[]))" in sql
    assert "CAST(pct AS NUMERIC(4, 1))" in sql and "CAST(doc AS jsonb)" in sql
    assert sql.endswith("WITH ORDINALITY AS u(id, count, pct, day, at, name, doc, blob, n) "
                        "ORDER BY n ON CONFLICT DO NOTHING")
