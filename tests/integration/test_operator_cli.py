"""The operator commands against the real stack: topics, tail, lag, and an unreachable broker.

The commands run as subprocesses (each calls asyncio.run, which cannot nest in the test's
event loop), with KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL pointing at the test stack.
"""

import asyncio
import os
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import uuid4

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts.catalogue import (
    PUBLIC_WORKS_INTAKE,
    SOCIAL_HOUSEHOLD,
    SOCIAL_HOUSING,
    SOCIAL_INTAKE,
    TOPICS,
)
from contracts.codec import decode, encode
from contracts.envelope import Envelope, new_envelope
from contracts.events.public_works import FieldStatus, TicketFieldUpdate
from services.demo.households import publish_intake
from services.runtime.settings import Settings
from services.social.pseudonym import household_ref
from services.timeline.queries import household_timeline
from tests.support import fresh_intakes, partitions_of, read_all, running, until

pytestmark = pytest.mark.integration

CLI = ("import typer\nfrom services.cli import contracts_cmd, dlq, ops\n"
       "app = typer.Typer(pretty_exceptions_enable=False)\n"
       "ops.register(app); dlq.register(app); contracts_cmd.register(app)\napp()")


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


def cli_env(settings: Settings, **override: str) -> dict[str, str]:
    return {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
            "DATABASE_URL": settings.database_url, **override}


async def sinergi(settings: Settings, *args: str, **env: str) -> Run:
    """Run one CLI command against the stack; ``env`` overrides variables."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CLI, *args, env=cli_env(settings, **env),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    return Run(proc.returncode or 0, out.decode(), err.decode())


def table_rows(output: str) -> list[list[str]]:
    """The body rows of the rich tables in ``output``, as cell texts."""
    return [[cell.strip() for cell in line.split("│")[1:-1]]
            for line in output.splitlines() if line.startswith("│")]


def field_envelope(order: str) -> Envelope:
    return new_envelope(type="intake.ticket_update.v1", source="pupr-field-system",
                        subject=order, correlationid=order, causationid=None)


async def publish_field_update(producer, order: str) -> str:
    """A field-system update, keyed and subjected by a work order of our own."""
    envelope = field_envelope(order)
    headers, payload = encode(envelope, TicketFieldUpdate(
        ticket_id=uuid4(), status=FieldStatus.SCHEDULED, on=datetime.now(UTC).date()))
    await producer.send_and_wait(PUBLIC_WORKS_INTAKE.name, value=payload, key=order.encode(),
                                 headers=headers)
    return str(envelope.id)


@pytest.fixture(scope="module")
async def household(stack_settings: Settings, engine: AsyncEngine, producer) -> AsyncIterator:
    """One household through social, public works and the timeline; services stopped after."""
    [intake] = fresh_intakes(1)
    ref = household_ref(stack_settings.pseudonym_key.get_secret_value().encode(),
                        intake.kk_number)
    async with running(stack_settings, engine, "social", "public_works", "timeline"):
        await publish_intake(producer, intake, f"CASE-{uuid4().hex[:8]}")

        async def ticketed() -> list[dict]:
            async with engine.connect() as conn:
                entries = await household_timeline(conn, ref)
            return entries if any(e["type"] == "public_works.ticket.opened.v1"
                                  for e in entries) else []

        entries = await until(ticketed, what="the household's tickets on its timeline")
    yield ref, intake, entries


async def test_topics_shows_partitions_end_offsets_and_counts_of_every_catalogue_topic(
    stack_settings: Settings, household
) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=stack_settings.kafka_bootstrap_servers)
    await consumer.start()
    try:
        tps = await partitions_of(stack_settings, list(TOPICS))
        begins, ends = await consumer.beginning_offsets(tps), await consumer.end_offsets(tps)
    finally:
        await consumer.stop()
    run = await sinergi(stack_settings, "topics")

    assert run.code == 0, run.err
    rows = {r[0]: r for r in table_rows(run.out)}
    assert set(rows) == set(TOPICS)
    for name, spec in TOPICS.items():
        mine = [tp for tp in tps if tp.topic == name]
        end = sum(ends[tp] for tp in mine)
        assert rows[name][1:6] == [spec.kind.value, str(spec.partitions), str(end),
                                   str(end - sum(begins[tp] for tp in mine)),
                                   ", ".join(spec.readers)]
    assert int(rows[SOCIAL_HOUSING.name][4]) >= 1
    assert rows[SOCIAL_INTAKE.name][6] == "yes: social only"


async def test_tail_decodes_a_households_events_with_ids_causation_and_summaries(
    stack_settings: Settings, household
) -> None:
    ref, _, _ = household
    events = [decode(r.topic, r.headers, r.value)
              for r in await read_all(stack_settings, [SOCIAL_HOUSEHOLD.name])
              if dict(r.headers)["ce_subject"] == ref.encode()]  # one partition: in order
    run = await sinergi(stack_settings, "tail", SOCIAL_HOUSEHOLD.name, "--household", ref,
                        "--from-beginning")

    assert run.code == 0, run.err
    lines = run.out.strip().splitlines()
    assert len(lines) == len(events) >= 2
    for line, event in zip(lines, events, strict=True):
        env = event.envelope
        assert f" {env.type} subject={ref} id={env.id} " in line
        assert f"caused-by={env.causationid or '-'} | {event.data.summary()}" in line
    assert "Registered in" in lines[0]

    only = await sinergi(stack_settings, "tail", SOCIAL_HOUSEHOLD.name, "--household", ref,
                         "--type", "social.housing.assessed.v1", "--from-beginning")
    assert [line.split()[3] for line in only.out.strip().splitlines()] == [
        "social.housing.assessed.v1"]


async def test_tail_shows_undecodable_records_with_their_reason_and_goes_on(
    stack_settings: Settings, producer
) -> None:
    # The field system's intake topic: nothing projects it, a stray record harms no timeline.
    order = f"WO-{uuid4().hex[:8]}"
    good = await publish_field_update(producer, order)
    bad = field_envelope(order)
    await producer.send_and_wait(PUBLIC_WORKS_INTAKE.name, value=b'{"ticket_id": ',
                                 key=order.encode(), headers=bad.to_headers())
    alien = field_envelope(order).model_copy(update={"type": "intake.ticket_moved.v9"})
    await producer.send_and_wait(PUBLIC_WORKS_INTAKE.name, value=b"{}", key=order.encode(),
                                 headers=alien.to_headers())
    last = await publish_field_update(producer, order)

    run = await sinergi(stack_settings, "tail", PUBLIC_WORKS_INTAKE.name, "--household", order,
                        "--from-beginning")
    assert run.code == 0, run.err
    lines = run.out.strip().splitlines()
    assert len(lines) == 4
    assert f"intake.ticket_update.v1 subject={order} id={good}" in lines[0]
    assert "| TicketFieldUpdate" in lines[0] and f"id={last}" in lines[3]
    assert "UNDECODABLE malformed_json" in lines[1] and f"id={bad.id}" in lines[1]
    assert "UNDECODABLE unknown_type: no contract for type intake.ticket_moved.v9" in lines[2]


async def test_tail_of_the_identity_intake_topic_never_prints_identity_numbers(
    stack_settings: Settings, producer
) -> None:
    intake, other = fresh_intakes(2)
    case = f"CASE-{uuid4().hex[:8]}"
    envelope = await publish_intake(producer, intake, case)
    # A case system that wrongly puts the KK number in the subject header:
    careless = envelope.model_copy(update={"id": uuid4(), "subject": other.kk_number})
    headers, payload = encode(careless, other)
    await producer.send_and_wait(SOCIAL_INTAKE.name, value=payload,
                                 key=other.kk_number.encode(), headers=headers)

    run = await sinergi(stack_settings, "tail", SOCIAL_INTAKE.name, "--household", case,
                        "--from-beginning")
    assert run.code == 0, run.err
    first, second = run.out.strip().splitlines()
    assert f"intake.household.v1 subject={case} id={envelope.id}" in first
    assert "payload withheld: identity numbers" in first
    assert f"subject=[16 digits withheld] id={careless.id}" in second
    assert "carries NIK/KK identity numbers" in run.err
    for household in (intake, other):
        for number in [household.kk_number, *(m.nik for m in household.members)]:
            assert number not in run.out + run.err


async def test_tail_follow_prints_a_record_published_after_it_started(
    stack_settings: Settings, producer
) -> None:
    case = f"CASE-{uuid4().hex[:8]}"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CLI, "tail", SOCIAL_INTAKE.name, "--household", case,
        "--follow", "--limit", "1", env=cli_env(stack_settings),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stderr is not None
        following = b""
        while not following.startswith(b"following"):
            following = await asyncio.wait_for(proc.stderr.readline(), timeout=60)
            assert following, "tail --follow ended before following"
        [intake] = fresh_intakes(1)
        envelope = await publish_intake(producer, intake, case)
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0
    [line] = out.decode().strip().splitlines()
    assert f"intake.household.v1 subject={case} id={envelope.id}" in line


async def test_lag_shows_committed_end_and_lag_per_group_and_partition(
    stack_settings: Settings, household
) -> None:
    # A group of our own, one record behind on one partition, never committed on the others.
    group = f"ops-test-{uuid4().hex[:8]}"
    tps = await partitions_of(stack_settings, [SOCIAL_HOUSING.name])
    consumer = AIOKafkaConsumer(bootstrap_servers=stack_settings.kafka_bootstrap_servers,
                                group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        begins, ends = await consumer.beginning_offsets(tps), await consumer.end_offsets(tps)
        behind = next(tp for tp in tps if ends[tp] > 0)  # the household's flag is there
        consumer.assign(tps)
        await consumer.commit({behind: ends[behind] - 1})
    finally:
        await consumer.stop()
    admin = AIOKafkaAdminClient(bootstrap_servers=stack_settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        works = await admin.list_consumer_group_offsets("public_works.housing_flags")
    finally:
        await admin.close()

    run = await sinergi(stack_settings, "lag")
    assert run.code == 0, run.err
    rows = table_rows(run.out)
    mine = {int(r[2]): r[3:] for r in rows if r[0] == group}
    assert mine == {
        tp.partition: ([str(ends[tp] - 1), str(ends[tp]), "1"] if tp == behind
                       else ["-", str(ends[tp]), str(ends[tp] - begins[tp])])
        for tp in tps
    }
    flags = {int(r[2]): r[3:] for r in rows if r[0] == "public_works.housing_flags"
             and r[1] == SOCIAL_HOUSING.name}
    for tp, meta in works.items():
        if tp.topic == SOCIAL_HOUSING.name:
            assert flags[tp.partition] == [str(meta.offset), str(ends[tp]),
                                           str(ends[tp] - meta.offset)]

    only = await sinergi(stack_settings, "lag", "--group", group)
    assert {r[0] for r in table_rows(only.out)} == {group}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("command", [
    ["topics"], ["lag"], ["tail", SOCIAL_HOUSEHOLD.name], ["dlq", "list"],
    ["dlq", "replay", "0", "--partition", "0"],
])
async def test_unreachable_broker_is_one_line_and_exit_code_1(
    stack_settings: Settings, command: list[str]
) -> None:
    address = f"127.0.0.1:{closed_port()}"
    run = await sinergi(stack_settings, *command, KAFKA_BOOTSTRAP_SERVERS=address)

    assert run.code == 1
    assert run.err.strip().splitlines() == [
        f"error: cannot reach Kafka at {address} (no broker answered); is it running, is "
        "KAFKA_BOOTSTRAP_SERVERS right?"]
    assert "Traceback" not in run.out + run.err


async def test_a_broker_that_never_answers_fails_within_the_timeout(
    stack_settings: Settings
) -> None:
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        address = f"127.0.0.1:{silent.getsockname()[1]}"
        run = await sinergi(stack_settings, "topics", KAFKA_BOOTSTRAP_SERVERS=address)

    assert run.code == 1
    [line] = run.err.strip().splitlines()
    # The client's own timeout, not a hang: it says how long it waited.
    assert line == f"error: Kafka at {address} did not answer within 10 s"
    assert "Traceback" not in run.err


async def test_unreachable_database_is_one_line_and_exit_code_1(stack_settings: Settings) -> None:
    url = f"postgresql+asyncpg://sinergi:secret-pw@127.0.0.1:{closed_port()}/sinergi"
    run = await sinergi(stack_settings, "dlq", "history", DATABASE_URL=url)

    assert run.code == 1
    [line] = run.err.strip().splitlines()
    assert line.startswith("error: cannot reach PostgreSQL at 127.0.0.1:")
    assert "secret-pw" not in run.err and "Traceback" not in run.err
