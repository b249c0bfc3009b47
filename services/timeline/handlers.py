"""Timeline handlers."""

from contracts.codec import Event
from services.runtime.unit_of_work import UnitOfWork
from services.timeline.summaries import agency_of
from services.timeline.tables import entries


async def record_entry(event: Event, uow: UnitOfWork) -> None:
    """Add one entry to the household's timeline (written with the batch's other entries)."""
    env = event.envelope
    uow.add(entries, dict(
        event_id=env.id, household_ref=env.subject, correlation_id=env.correlationid,
        causation_id=env.causationid, agency=agency_of(env.type), type=env.type,
        time=env.time, summary=event.data.summary(),
        region_code=getattr(event.data, "region_code", None),
        data=event.data.model_dump(mode="json"),
    ))

