"""Hostile input on every intake topic, fuzzed: each bad record is dead-lettered with its
reason, each valid one around it is processed, and the services keep consuming.

The bad records come from ``tests/fuzz/intake_records.py`` (Hypothesis, derandomized,
bounded). They share keys, and so partitions, with the valid records they are interleaved
with. Every record carries an ``x-fuzz-marker`` header (a dead letter keeps the original
headers), so even a record without a usable ``ce_id`` is found in the dead-letter topic.
"""

from collections import Counter
from functools import partial
from typing import Any
from uuid import UUID, uuid4

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts.catalogue import (
    DEAD_LETTER_TOPICS,
    EDUCATION_INTAKE,
    PUBLIC_WORKS_INTAKE,
    SOCIAL_INTAKE,
)
from contracts.events.intake import HouseholdIntake
from services.demo.households import publish_intake, sample_households
from services.education.tables import TABLES as EDUCATION
from services.education.tables import attendance, pupils
from services.public_works.tables import TABLES as PUBLIC_WORKS
from services.public_works.tables import tickets
from services.runtime.settings import Settings
from services.social.empowerment import school_age_children
from services.social.pseudonym import household_ref, person_ref
from services.social.tables import TABLES as SOCIAL
from services.social.tables import income_reports
from tests.fuzz.intake_records import (
    Intakes,
    Record,
    canary_records,
    generate_bad_records,
    interleave,
    valid_records,
)
from tests.support import consumed_to_end, fresh_intakes, read_all, running, until

pytestmark = pytest.mark.integration

MARKER = "x-fuzz-marker"
GROUPS = {SOCIAL_INTAKE.name: "social.intake", PUBLIC_WORKS_INTAKE.name:
          "public_works.field_updates", EDUCATION_INTAKE.name: "education.attendance"}
INBOXES = {SOCIAL_INTAKE.name: SOCIAL.inbox, PUBLIC_WORKS_INTAKE.name: PUBLIC_WORKS.inbox,
           EDUCATION_INTAKE.name: EDUCATION.inbox}


async def registered(settings: Settings, engine: AsyncEngine, producer: Any,
                     count: int = 4) -> tuple[list[HouseholdIntake], list[UUID], list[str]]:
    """Households with housing needs and school-age children, their tickets and pupils."""
    chosen: list[HouseholdIntake] = []
    while len(chosen) < count:
        chosen += [i for i in fresh_intakes(1) if school_age_children(i)]
    key = settings.pseudonym_key.get_secret_value().encode()
    refs = [household_ref(key, i.kk_number) for i in chosen]
    children = [person_ref(key, m.nik) for i in chosen for m, _ in school_age_children(i)]
    for intake in chosen:
        await publish_intake(producer, intake, f"CASE-FUZZ-{uuid4().hex[:8]}")

    async def ready() -> tuple[list[UUID], list[str]] | None:
        async with engine.connect() as conn:
            opened = (await conn.execute(select(tickets.c.ticket_id).where(
                tickets.c.household_ref.in_(refs)).order_by(tickets.c.ticket_id))).scalars()
            enrolled = (await conn.execute(select(pupils.c.person_ref).where(
                pupils.c.person_ref.in_(children)).order_by(pupils.c.person_ref))).scalars()
            found = list(opened), list(enrolled)
        return found if all(found) and len(found[1]) == len(children) else None

    ticket_ids, pupil_refs = await until(ready, within=180, what="tickets and enrolments")
    return chosen, ticket_ids, pupil_refs


async def send(producer: Any, records: list[Record], run: str) -> dict[str, Record]:
    futures, by_marker = [], {}
    for n, r in enumerate(records):
        marker = f"{run}-{n}"
        by_marker[marker] = r
        futures.append(await producer.send(r.topic, value=r.value, key=r.key.encode(),
                                           headers=[*r.headers, (MARKER, marker.encode())]))
    for future in futures:
        await future
    return by_marker


async def processed(engine: AsyncEngine, valid: list[Record]) -> set[UUID]:
    """Valid records whose effect is committed: inbox claim plus the stored report."""
    ids = {t: {r.ce_id for r in valid if r.topic == t} for t in GROUPS}
    done: set[UUID] = set()
    async with engine.connect() as conn:
        for topic, inbox in INBOXES.items():
            done |= set((await conn.execute(select(inbox.c.event_id).where(
                inbox.c.consumer == GROUPS[topic], inbox.c.event_id.in_(ids[topic])))).scalars())
        stored = set((await conn.execute(select(income_reports.c.event_id).where(
            income_reports.c.event_id.in_(ids[SOCIAL_INTAKE.name])))).scalars())
        stored |= set((await conn.execute(select(attendance.c.report_event_id).where(
            attendance.c.report_event_id.in_(ids[EDUCATION_INTAKE.name])))).scalars())
    return {i for i in done if i in stored or i in ids[PUBLIC_WORKS_INTAKE.name]}


async def test_fuzzed_bad_intake_records_are_dead_lettered_and_valid_ones_processed(
    stack_settings: Settings, engine: AsyncEngine, producer, capsys
) -> None:
    run = f"fuzz-{uuid4().hex[:12]}"
    async with running(stack_settings, engine, "social", "public_works", "education"):
        households, ticket_ids, pupil_refs = await registered(stack_settings, engine, producer)
        valid = valid_records(households, ticket_ids, pupil_refs)
        samples = {r.topic: r for r in reversed(valid) if r.kind == "valid"}
        known = Intakes(samples, sample_households(1, seed=5)[0].model_dump(mode="json"), {
            SOCIAL_INTAKE.name: [h.kk_number for h in households],
            PUBLIC_WORKS_INTAKE.name: [str(t) for t in ticket_ids],
            EDUCATION_INTAKE.name: pupil_refs})
        bad = generate_bad_records(known)
        sent = await send(producer, interleave(bad, valid), run)
        for topic, group in GROUPS.items():
            await until(partial(consumed_to_end, stack_settings, group, [topic]),
                        within=300, what=f"{group} to consume every fuzzed record")
        letters = {dict(r.headers)[MARKER].decode(): dict(r.headers)
                   for r in await read_all(stack_settings, list(DEAD_LETTER_TOPICS))
                   if dict(r.headers).get(MARKER, b"").startswith(run.encode())}
        done = await processed(engine, valid)
        async with engine.connect() as conn:
            statuses = Counter((await conn.execute(select(tickets.c.status).where(
                tickets.c.ticket_id.in_(ticket_ids)))).scalars())
        # Still consuming after all of it: one more valid record per intake has its effect.
        canaries = canary_records(households[0], ticket_ids[0], pupil_refs[0])
        await send(producer, canaries, f"{run}-canary")
        await until(lambda: _all_in(engine, canaries), within=120, what="the canaries")

    bad_sent = {m: r for m, r in sent.items() if r.expect is not None}
    dead = {m: r for m, r in bad_sent.items() if m in letters}
    wrong = [(r.kind, r.expect, letters[m].get("dlq_reason"), letters[m].get("dlq_detail"))
             for m, r in dead.items()
             if letters[m].get("dlq_reason") != str(r.expect).encode()
             or not letters[m].get("dlq_detail")]
    valid_lettered = [letters[m].get("dlq_detail") for m, r in sent.items()
                      if r.expect is None and m in letters]
    with capsys.disabled():
        print(f"\nFuzzed intake ({run}): bad tried {len(bad_sent)}, dead-lettered {len(dead)}, "
              f"with the expected reason {len(dead) - len(wrong)}; valid sent {len(valid)}, "
              f"valid processed {len(done)}, valid dead-lettered {len(valid_lettered)}")
        print("  bad by kind:", dict(sorted(Counter(r.kind for r in bad).items())))
        print("  bad by topic:", dict(Counter(r.topic for r in bad)))
        print("  dead-letter reasons:", dict(Counter(r.expect for r in dead.values())))
    assert wrong == []
    assert valid_lettered == []
    assert len(dead) == len(bad_sent), [r.kind for m, r in bad_sent.items() if m not in dead]
    assert len(done) == len(valid)
    assert statuses == Counter(completed=len(ticket_ids))
    assert {r.topic for r in bad} == set(GROUPS)


async def _all_in(engine: AsyncEngine, records: list[Record]) -> bool:
    return len(await processed(engine, records)) == len(records)
