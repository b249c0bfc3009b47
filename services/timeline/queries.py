"""Read-side queries over the timeline projection."""

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from services.timeline.tables import entries


async def household_timeline(conn: AsyncConnection, household_ref: str) -> list[dict[str, Any]]:
    """A household's entries, oldest first."""
    rows = await conn.execute(
        select(entries).where(entries.c.household_ref == household_ref)
        .order_by(entries.c.time, entries.c.event_id)
    )
    return [
        {
            "event_id": str(r.event_id), "time": r.time.isoformat(), "agency": r.agency,
            "type": r.type, "summary": r.summary,
            "causation_id": str(r.causation_id) if r.causation_id else None,
            "correlation_id": r.correlation_id,
        }
        for r in rows
    ]
