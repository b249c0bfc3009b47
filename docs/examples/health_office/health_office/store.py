"""The health office's own tables, in its own schema; it creates them itself."""

from uuid import UUID

import asyncpg

from health_office.rules import Visit

SCHEMA_SQL = """
CREATE SCHEMA IF NOT EXISTS health_office;
CREATE TABLE IF NOT EXISTS health_office.handled_events (
    event_id uuid PRIMARY KEY,
    event_type text NOT NULL,
    handled_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS health_office.visits (
    household_ref text PRIMARY KEY,
    region_code text,
    village text,
    reasons text[] NOT NULL,
    due_by date NOT NULL,
    status text NOT NULL DEFAULT 'planned',
    caused_by uuid[] NOT NULL,
    correlation_id text NOT NULL,
    planned_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
"""

# One visit per household: a later reason joins it and can only bring its date forward.
PLAN_VISIT = """
INSERT INTO health_office.visits AS v
    (household_ref, region_code, village, reasons, due_by, caused_by, correlation_id)
VALUES ($1, $2, $3, $4, $5, ARRAY[$6::uuid], $7)
ON CONFLICT (household_ref) DO UPDATE SET
    region_code = COALESCE(v.region_code, EXCLUDED.region_code),
    village = COALESCE(v.village, EXCLUDED.village),
    reasons = ARRAY(SELECT DISTINCT r FROM unnest(v.reasons || EXCLUDED.reasons) AS r ORDER BY r),
    due_by = LEAST(v.due_by, EXCLUDED.due_by),
    caused_by = v.caused_by || EXCLUDED.caused_by,
    updated_at = now()
"""


async def create_schema(conn: asyncpg.Connection) -> None:
    async with conn.transaction():
        # Two instances starting at once would race on CREATE ... IF NOT EXISTS.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('health_office.schema'))")
        await conn.execute(SCHEMA_SQL)


async def claim(conn: asyncpg.Connection, event_id: UUID, event_type: str) -> bool:
    """Record the event as handled; False if it already was (a redelivery)."""
    inserted = await conn.fetchval(
        "INSERT INTO health_office.handled_events (event_id, event_type) VALUES ($1, $2) "
        "ON CONFLICT DO NOTHING RETURNING true", event_id, event_type)
    return bool(inserted)


async def plan_visit(conn: asyncpg.Connection, visit: Visit, event_id: UUID,
                     correlation_id: str) -> None:
    await conn.execute(PLAN_VISIT, visit.household_ref, visit.region_code, visit.village,
                       [r.value for r in visit.reasons], visit.due_by, event_id, correlation_id)
