"""Writing an accepted intake record to the outbox, keyed as its intake topic says.

``UnitOfWork.emit`` keys a row by its subject (a household ref); an intake record's key is
a data field instead (KK number, ticket id, person ref), so the row is written here. The
relay then publishes it like every service event.
"""

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts.codec import encode
from services.intake_api.validation import Accepted
from services.runtime.tables import ServiceTables


class IdReused(Exception):
    """The ``ce-id`` was accepted before for a different record (another topic, key or
    payload): answering "duplicate" would drop this one without a word."""


async def write_intake(engine: AsyncEngine, tables: ServiceTables, record: Accepted) -> bool:
    """Commit ``record`` to the outbox; False if its event id was accepted before for the
    same record (IdReused if for another one).

    An agency system that retries a post with the same ``ce-id`` gets the first acceptance,
    never a second record. The outbox keeps sent rows for ``SINERGI_SENT_OUTBOX_KEEP_HOURS``:
    within that window a retry is recognised.
    """
    headers, payload = encode(record.envelope, record.data)
    outbox = tables.outbox
    async with engine.begin() as conn:
        # As in UnitOfWork: id order must match commit order for each key (see _lock_key).
        await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:ns), hashtext(:key))"),
                           {"ns": tables.schema, "key": record.key})
        # The row and its place on the unsent list in one statement (as a commit's are).
        written = (
            insert(outbox)
            .values(event_id=record.envelope.id, topic=record.topic, key=record.key,
                    headers=[[k, v.decode()] for k, v in headers], payload=payload)
            .on_conflict_do_nothing(index_elements=[outbox.c.event_id])
            .returning(outbox.c.id)
            .cte("written")
        )
        unsent = tables.outbox_unsent
        listed = await conn.execute(
            unsent.insert().from_select(["id"], select(written.c.id)).returning(unsent.c.id))
        if listed.first() is not None:
            return True
        before = (await conn.execute(
            select(outbox.c.topic, outbox.c.key, outbox.c.payload)
            .where(outbox.c.event_id == record.envelope.id))).first()
        if before is not None and (before.topic, before.key, bytes(before.payload)) != (
                record.topic, record.key, payload):
            raise IdReused(f"ce-id {record.envelope.id} was accepted before for another record")
        return False
