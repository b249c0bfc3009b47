"""NIK and KK numbers never leave the social service."""

import json
import re

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts.catalogue import SOCIAL_INTAKE, Kind, shared_topics
from services.demo.households import publish_intake
from services.public_works.tables import TABLES as WORKS
from services.runtime.settings import Settings
from services.social.pseudonym import household_ref
from services.social.tables import TABLES as SOCIAL
from tests.support import consumed_to_end, fresh_intakes, read_all, running, until

pytestmark = pytest.mark.integration


async def all_sent(engine: AsyncEngine, refs: set[str]) -> bool:
    """Each household has outbox rows at Dinsos, and no row of theirs anywhere is unsent."""
    async with engine.connect() as conn:
        emitted = set((await conn.execute(select(SOCIAL.outbox.c.key).where(
            SOCIAL.outbox.c.key.in_(refs)))).scalars())
        unsent = [await conn.scalar(select(func.count()).select_from(t.outbox).where(
            t.outbox.c.key.in_(refs), t.outbox.c.sent_at.is_(None))) for t in (SOCIAL, WORKS)]
    return emitted == refs and not any(unsent)


async def test_no_nik_or_kk_number_appears_on_any_shared_topic(
    stack_settings: Settings, engine: AsyncEngine, producer
) -> None:
    key = stack_settings.pseudonym_key.get_secret_value().encode()
    intakes = fresh_intakes(5)
    refs = {household_ref(key, i.kk_number) for i in intakes}
    async with running(stack_settings, engine, "social", "public_works", "timeline"):
        for n, intake in enumerate(intakes):
            await publish_intake(producer, intake, f"CASE-PRIV-{n}")
        await until(lambda: consumed_to_end(stack_settings, "social.intake",
                                            [SOCIAL_INTAKE.name]), what="intake consumed")
        await until(lambda: consumed_to_end(stack_settings, "public_works.housing_flags",
                                            ["sinergi.social.housing"]), what="flags consumed")
        # Every event Dinsos and Public Works emitted for these households is on its topic,
        # not only those that preceded the flags: the check below covers all of them.
        await until(lambda: all_sent(engine, refs), what="every event of theirs relayed")

    # Every identity number ever submitted (this test's and every earlier one's)...
    numbers = set()
    for record in await read_all(stack_settings, [SOCIAL_INTAKE.name]):
        try:
            data = json.loads(record.value)
            # Only well-formed numbers: the fuzz test sends empty and short ones on purpose.
            numbers.update(n for n in (data["kk_number"], *(m["nik"] for m in data["members"]))
                           if isinstance(n, str) and re.fullmatch(r"\d{16}", n))
        except (ValueError, KeyError, TypeError, RecursionError):
            continue  # malformed records other tests sent on purpose
    assert {i.kk_number for i in intakes} <= numbers

    # ...is absent from every record on every shared topic: key, headers and payload.
    # Sinergi's own output: agency topics and dead letters (intake topics of other agencies
    # carry whatever their outside systems send, hostile records included).
    shared = await read_all(stack_settings, [t.name for t in shared_topics()
                                             if t.kind is not Kind.INTAKE])
    assert {r.key.decode() for r in shared if r.key} >= refs  # our households did flow
    for record in shared:
        blob = b"|".join([record.key or b"", record.value or b"",
                          *[v or b"" for _, v in record.headers]])
        leaked = [n for n in numbers if n.encode() in blob]
        assert not leaked, f"{record.topic}@{record.partition}:{record.offset} carries {leaked}"
