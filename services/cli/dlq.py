"""``sinergi dlq list|show|replay|history``: dead letters, and replaying one after its fix.

A replay publishes the refused record's original key, value and headers (so its original
event id) to the topic it came from, with ``sinergi_replay_of = <dlq topic>/<partition>/
<offset>``; the consumer's inbox keeps it idempotent. Who replayed what and when is kept in
``operations.dlq_replays`` (Alembic migrations in services/cli/migrations). A dead letter
is replayed once unless ``--force``.
"""

import asyncio
import getpass
import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import typer
from aiokafka import TopicPartition
from rich.table import Table
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from contracts.catalogue import DEAD_LETTER, DEAD_LETTER_TOPICS, TOPICS, dead_letter_topic
from contracts.export import REPLAY_HEADER
from contracts.identity import redact
from services.cli.environment import DATABASE_ONLY, cli_settings
from services.cli.errors import UserError, err, friendly_errors
from services.cli.ops import (
    Record,
    console,
    database_address,
    header_map,
    kafka,
    reaching,
    read_range,
)
from services.runtime.db import make_engine, migrate
from services.runtime.deadletter import VALUE_OMITTED
from services.runtime.kafka import make_producer
from services.runtime.kafka_login import client_login

SCHEMA = "operations"
MIGRATIONS = Path(__file__).parent / "migrations"
metadata = sa.MetaData(schema=SCHEMA)
replays = sa.Table(
    "dlq_replays", metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("dead_letter", sa.Text, nullable=False, index=True),  # <topic>/<partition>/<offset>
    sa.Column("reason", sa.Text),
    sa.Column("original_topic", sa.Text, nullable=False),
    sa.Column("original_partition", sa.Integer),
    sa.Column("original_offset", sa.BigInteger),
    sa.Column("event_id", sa.Text),  # as the record carried it: a refused envelope may have none
    sa.Column("event_type", sa.Text),
    sa.Column("replayed_by", sa.Text, nullable=False),
    sa.Column("replayed_at", sa.DateTime(timezone=True), nullable=False,
              server_default=sa.func.now()),
    sa.Column("forced", sa.Boolean, nullable=False),
    sa.Column("replay_partition", sa.Integer, nullable=False),
    sa.Column("replay_offset", sa.BigInteger, nullable=False),
)

dlq_app = typer.Typer(help="Dead letters: list, show, replay after fixing the cause.",
                      no_args_is_help=True, pretty_exceptions_enable=False)
TopicOption = typer.Option(DEAD_LETTER.name, "--topic", help="sinergi.deadletter or "
                           "sinergi.intake.deadletter (Dinsos only: identity numbers).")
PartitionOption = typer.Option(None, "--partition", "-p",
                               help="Needed when the offset exists on several partitions.")


def register(app: typer.Typer) -> None:
    app.add_typer(dlq_app, name="dlq")


def _dead_letter_topic(name: str) -> str:
    if name not in DEAD_LETTER_TOPICS:
        raise UserError(f"{name} is not a dead-letter topic ({', '.join(DEAD_LETTER_TOPICS)})")
    return name


@dlq_app.command("list")
def list_letters(topic: str = TopicOption) -> None:
    """Every dead letter: why, from where, by which consumer group, when, which event."""
    with friendly_errors():
        settings = cli_settings()
        letters = asyncio.run(_all(settings.kafka_bootstrap_servers, _dead_letter_topic(topic),
                                   client_login(settings)))
    table = Table(title=f"Dead letters on {topic}", title_justify="left")
    for column in ("partition", "offset", "reason", "original", "consumer group",
                   "first failure", "attempts", "ce_type", "ce_id"):
        table.add_column(column, no_wrap=column in ("original", "ce_id", "ce_type"))
    for record in letters:
        h = {k: redact(v) for k, v in header_map(record.headers).items()}
        table.add_row(
            str(record.partition), str(record.offset), h.get("dlq_reason", "?"),
            f"{h.get('dlq_topic')}/{h.get('dlq_partition')}/{h.get('dlq_offset')}",
            h.get("dlq_consumer_group", ""), h.get("dlq_first_failure", "")[:19] + "Z",
            h.get("dlq_attempts", ""), h.get("ce_type", "-"), h.get("ce_id", "-"))
    console.print(table)
    console.print(f"{len(letters)} dead letter(s)")


async def _all(servers: str, topic: str, login: Mapping[str, Any] | None = None
               ) -> list[Record]:
    async with kafka(servers, login) as k:
        async with reaching("Kafka", servers):
            tps = (await k.partitions(topic))[topic]
            begins = await k.consumer.beginning_offsets(tps)
            ends = await k.consumer.end_offsets(tps)
        records = [r async for r in read_range(k.consumer, begins, ends)]
    return sorted(records, key=lambda r: (r.timestamp, r.partition, r.offset))


async def _one(servers: str, topic: str, offset: int, partition: int | None,
               login: Mapping[str, Any] | None = None) -> Record:
    async with kafka(servers, login) as k, reaching("Kafka", servers):
        consumer = k.consumer
        tps = (await k.partitions(topic))[topic]
        begins, ends = await consumer.beginning_offsets(tps), await consumer.end_offsets(tps)
        holding = [tp for tp in tps if begins[tp] <= offset < ends[tp]
                   and (partition is None or tp.partition == partition)]
        if not holding:
            where = f"partition {partition}" if partition is not None else "any partition"
            raise UserError(f"no dead letter at offset {offset} on {where} of {topic}")
        if len(holding) > 1:
            raise UserError(f"offset {offset} exists on partitions "
                            f"{', '.join(str(tp.partition) for tp in holding)}: pick one with "
                            "--partition")
        tp: TopicPartition = holding[0]
        consumer.assign([tp])
        consumer.seek(tp, offset)
        record = await consumer.getone(tp)
    if record.offset != offset:
        raise UserError(f"offset {offset} of {topic} is gone (retention)")
    return record


@dlq_app.command()
def show(offset: int = typer.Argument(..., help="The dead letter's offset."),
         partition: int | None = PartitionOption, topic: str = TopicOption) -> None:
    """All of a dead letter's headers, its payload (not on the intake dead-letter topic)."""
    with friendly_errors():
        settings = cli_settings()
        record = asyncio.run(_one(settings.kafka_bootstrap_servers, _dead_letter_topic(topic),
                                  offset, partition, client_login(settings)))
    identity = TOPICS[topic].identity_numbers
    console.print(f"{topic}/{record.partition}/{record.offset}", markup=False)
    for name, value in header_map(record.headers).items():
        # Masked on every topic: a Dinsos record misrouted under an unknown type lands on
        # sinergi.deadletter with a KK number as its subject and correlation id.
        console.print(f"  {name}: {redact(value)}", markup=False, soft_wrap=True)
    if identity:
        console.print("  key and payload withheld: this topic carries NIK/KK identity numbers")
    else:
        # Masked here too: a Dinsos record misrouted under an unknown type lands here.
        console.print(f"  key: {redact((record.key or b'').decode('utf-8', 'replace'))}",
                      markup=False)
        console.print(f"  payload:\n{redact(_pretty(record.value))}" if record.value is not None
                      else "  payload omitted (see dlq_value_omitted)", markup=False,
                      soft_wrap=True)
    try:
        history = asyncio.run(_history(settings.database_url, _coordinate(record)))
    except UserError as exc:  # the letter itself is shown; its replays need the database
        err.print(f"replay history unavailable: {exc}", markup=False, highlight=False)
        history = []
    for row in history:
        console.print(f"  replayed by {row['replayed_by']} at {_when(row['replayed_at'])} to "
                      f"partition {row['replay_partition']} offset {row['replay_offset']}"
                      + (" (forced)" if row["forced"] else ""), markup=False)


def _pretty(value: bytes | None) -> str:
    try:
        return json.dumps(json.loads(value or b""), indent=2, ensure_ascii=False)
    except (ValueError, UnicodeDecodeError):
        return repr(value)


def _coordinate(record: Record) -> str:
    return f"{record.topic}/{record.partition}/{record.offset}"


@dlq_app.command()
def replay(offset: int = typer.Argument(..., help="The dead letter's offset."),
           partition: int | None = PartitionOption, topic: str = TopicOption,
           by: str | None = typer.Option(
               None, help="Who replays (default: SINERGI_OPERATOR, else your user name)."),
           force: bool = typer.Option(False, help="Replay a dead letter already replayed.")
           ) -> None:
    """Publish the refused record again to its original topic, once its cause is fixed."""
    with friendly_errors():
        settings = cli_settings()
        operator = by or os.environ.get("SINERGI_OPERATOR") or getpass.getuser()
        record = asyncio.run(_one(settings.kafka_bootstrap_servers, _dead_letter_topic(topic),
                                  offset, partition, client_login(settings)))
        row = asyncio.run(_replay(settings.kafka_bootstrap_servers, settings.database_url,
                                  record, operator, force, client_login(settings)))
    console.print(f"replayed {row['dead_letter']} ({row['event_type'] or 'unknown type'} "
                  f"{row['event_id'] or ''}) to {row['original_topic']} partition "
                  f"{row['replay_partition']} offset {row['replay_offset']}, recorded as replay "
                  f"#{row['id']} by {row['replayed_by']}", markup=False)


async def _replay(servers: str, url: str, record: Record, operator: str,
                  force: bool, login: Mapping[str, Any] | None = None) -> dict[str, Any]:
    h = header_map(record.headers)
    original = h.get("dlq_topic", "")
    if original not in TOPICS or dead_letter_topic(original, h.get("ce_type")) != record.topic:
        raise UserError(f"{_coordinate(record)} names no catalogue topic it came from "
                        f"(dlq_topic={original!r})")
    if VALUE_OMITTED in h:
        raise UserError(f"{_coordinate(record)} was dead-lettered without its value "
                        f"({h[VALUE_OMITTED]} bytes, too large with the dead-letter headers): "
                        f"the original is at {original}/{h.get('dlq_partition')}/"
                        f"{h.get('dlq_offset')} until that topic's retention")
    # aiokafka would wait for a missing topic's metadata until the send timed out.
    async with kafka(servers, login) as k, reaching("Kafka", servers):
        if not (await k.partitions(original))[original]:
            raise UserError(f"topic {original} does not exist on {servers}: nothing was "
                            "published (its service creates it at start)")
    engine = make_engine(url, pool_size=1)
    sent = None
    try:
        async with reaching("PostgreSQL", database_address(url)):
            await migrate(engine, MIGRATIONS, SCHEMA)
        async with engine.begin() as conn:
            # Two operators replaying the same letter at once: the second waits, then sees it.
            await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"),
                               {"k": _coordinate(record)})
            before = await _rows(conn, _coordinate(record))
            if before and not force:
                last = before[-1]
                raise UserError(f"{last['dead_letter']} was already replayed by "
                                f"{last['replayed_by']} at {_when(last['replayed_at'])}"
                                "; add --force to publish it again (a consumer that handled it "
                                "drops the copy)")
            headers = [(k, v) for k, v in record.headers if v is not None
                       and not k.startswith("dlq_") and k != REPLAY_HEADER]
            headers.append((REPLAY_HEADER, _coordinate(record).encode()))
            producer = make_producer(servers, "sinergi-cli", login)
            # A send that times out may still land; the inbox drops a second copy.
            async with reaching("Kafka", servers, 20):
                await producer.start()
                try:
                    sent = await producer.send_and_wait(original, value=record.value,
                                                        key=record.key, headers=headers)
                finally:
                    await producer.stop()
            values = dict(
                dead_letter=_coordinate(record), reason=h.get("dlq_reason"),
                original_topic=original, original_partition=_int(h.get("dlq_partition")),
                original_offset=_int(h.get("dlq_offset")), event_id=h.get("ce_id"),
                event_type=h.get("ce_type"), replayed_by=operator, forced=bool(before),
                replay_partition=sent.partition, replay_offset=sent.offset,
            )
            row = (await conn.execute(replays.insert().values(**values).returning(replays))).one()
        return dict(row._mapping)
    except BaseException as exc:
        if sent is None:
            raise
        # Published, but its record is lost with the transaction: say so, or a second
        # replay would follow (harmless to the consumers, but the audit would miss both).
        where = f"{original}/{sent.partition}/{sent.offset}"
        if isinstance(exc, Exception):
            raise UserError(f"published {_coordinate(record)} to {where}, but the replay was "
                            f"not recorded ({type(exc).__name__}); do not replay it again"
                            ) from None
        err.print(f"published {_coordinate(record)} to {where}; interrupted before the "
                  "replay was recorded", markup=False)
        raise
    finally:
        await engine.dispose()


def _when(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


async def _rows(conn: AsyncConnection, dead_letter: str | None) -> list[dict[str, Any]]:
    query = select(replays).order_by(replays.c.id)
    if dead_letter is not None:
        query = query.where(replays.c.dead_letter == dead_letter)
    return [dict(r._mapping) for r in await conn.execute(query)]


async def _history(url: str, dead_letter: str | None) -> list[dict[str, Any]]:
    engine = make_engine(url, pool_size=1)
    try:
        async with reaching("PostgreSQL", database_address(url)):
            await migrate(engine, MIGRATIONS, SCHEMA)
            async with engine.connect() as conn:
                return await _rows(conn, dead_letter)
    finally:
        await engine.dispose()


@dlq_app.command()
def history() -> None:
    """Every replay: which dead letter, its event, who replayed it, when, and to where."""
    with friendly_errors():
        rows = asyncio.run(_history(cli_settings(need=DATABASE_ONLY).database_url, None))
    table = Table(title="Dead-letter replays", title_justify="left")
    for column in ("#", "dead letter", "reason", "event", "by", "at", "replayed to",
                   "forced"):
        table.add_column(column)
    for r in rows:
        table.add_row(str(r["id"]), r["dead_letter"], r["reason"] or "",
                      f"{r['event_type'] or '-'} {r['event_id'] or '-'}", r["replayed_by"],
                      _when(r["replayed_at"]),
                      f"{r['original_topic']}/{r['replay_partition']}/{r['replay_offset']}",
                      "yes" if r["forced"] else "")
    console.print(table)
    console.print(f"{len(rows)} replay(s)")
