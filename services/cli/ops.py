"""``sinergi topics|tail|lag``: the live topics, decoded, for operators.

Kafka calls are bounded (``KAFKA_TIMEOUT``): an unreachable broker is one line on stderr
and exit code 1, never a hang or a traceback. Payloads of identity-number topics are never
printed, only their envelope headers.
"""

import asyncio
import logging
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeAlias

import typer
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError, KafkaError
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from contracts.catalogue import EVENTS, TOPICS, Kind, TopicSpec
from contracts.codec import decode
from contracts.envelope import Envelope, EnvelopeError
from contracts.errors import ContractViolation
from contracts.identity import redact
from services.cli.environment import cli_settings
from services.cli.errors import UserError, err, friendly_errors
from services.runtime.db import make_engine
from services.runtime.kafka_login import client_login

KAFKA_TIMEOUT = 10.0
console = Console(width=None if sys.stdout.isatty() else 240, highlight=False)
Record: TypeAlias = ConsumerRecord[bytes, bytes]


def register(app: typer.Typer) -> None:
    app.command()(topics)
    app.command()(tail)
    app.command()(lag)


@asynccontextmanager
async def reaching(what: str, where: str, seconds: float | None = KAFKA_TIMEOUT
                   ) -> AsyncIterator[None]:
    """Turn an unreachable or silent server into one sentence the operator can act on
    (``seconds``: how long it may take; None, no limit)."""
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError:
        raise UserError(f"{what} at {where} did not answer within {seconds or 0:.0f} s"
                        ) from None
    except (KafkaConnectionError, OSError) as exc:
        hint = "KAFKA_BOOTSTRAP_SERVERS" if what == "Kafka" else "DATABASE_URL"
        cause = getattr(exc, "strerror", None) or (
            "no broker answered" if what == "Kafka" else str(exc) or "no answer")
        raise UserError(f"cannot reach {what} at {where} ({cause}); is it running, "
                        f"is {hint} right?") from None
    except (KafkaError, SQLAlchemyError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise UserError(f"{what} at {where} failed: {type(exc).__name__} {first}") from None


@asynccontextmanager
async def database(url: str) -> AsyncIterator[AsyncConnection]:
    """A connection to PostgreSQL within ``KAFKA_TIMEOUT``, or one sentence saying why not
    (asyncpg alone waits a minute for a server that accepts and never answers); what runs
    on it may take as long as it needs, its failures said the same way."""
    engine = make_engine(url, pool_size=1)
    where = database_address(url)
    try:
        async with reaching("PostgreSQL", where):
            conn = await engine.connect()
        try:
            async with reaching("PostgreSQL", where, None):
                yield conn
        finally:
            await conn.close()
    finally:
        await engine.dispose()


def database_address(url: str) -> str:
    parsed = make_url(url)
    return f"{parsed.host}:{parsed.port or 5432}/{parsed.database}"


@dataclass(frozen=True)
class Kafka:
    consumer: AIOKafkaConsumer
    """Group-less: it reads by assignment and commits nothing."""
    admin: AIOKafkaAdminClient

    async def partitions(self, *topics: str) -> dict[str, list[TopicPartition]]:
        """Each topic's partitions; an empty list for a topic that does not exist."""
        described = await self.admin.describe_topics(list(topics))
        found = {t["topic"]: sorted(p["partition"] for p in t["partitions"])
                 for t in described if t["error_code"] == 0}
        return {t: [TopicPartition(t, p) for p in found.get(t, [])] for t in topics}


@asynccontextmanager
async def kafka(servers: str, login: Mapping[str, Any] | None = None) -> AsyncIterator[Kafka]:
    """A consumer and an admin client; ``login`` (``client_login``): the principal's
    SASL arguments on a secured broker (``KAFKA_SASL_*``, e.g. the operators')."""
    # aiokafka logs each failed connection itself; the CLI says it once, in one line.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    clients = Kafka(
        AIOKafkaConsumer(bootstrap_servers=servers, client_id="sinergi-cli",
                         enable_auto_commit=False, request_timeout_ms=10_000, **(login or {})),
        AIOKafkaAdminClient(bootstrap_servers=servers, client_id="sinergi-cli",
                            request_timeout_ms=10_000, **(login or {})),
    )
    try:
        async with reaching("Kafka", servers):
            await clients.consumer.start()
            await clients.admin.start()
        yield clients
    finally:
        await clients.admin.close()
        await clients.consumer.stop()


async def read_range(consumer: AIOKafkaConsumer, starts: dict[TopicPartition, int],
                     ends: dict[TopicPartition, int]) -> AsyncIterator[Record]:
    """Records from ``starts`` up to (not including) ``ends``, per partition."""
    pending = [tp for tp in starts if starts[tp] < ends[tp]]
    consumer.assign(list(starts))
    for tp, offset in starts.items():
        consumer.seek(tp, offset)
    quiet_since = time.monotonic()
    while pending:
        batch = await consumer.getmany(*pending, timeout_ms=500)
        for tp, records in batch.items():
            for record in records:
                if record.offset < ends[tp]:
                    yield record
        if batch:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > KAFKA_TIMEOUT:
            names = ", ".join(sorted({tp.topic for tp in pending}))
            raise UserError(f"Kafka stopped delivering records of {names}")
        pending = [tp for tp in pending if await consumer.position(tp) < ends[tp]]


def catalogue_topic(name: str) -> TopicSpec:
    if name not in TOPICS:
        raise UserError(f"{name} is not a catalogue topic; `sinergi topics` lists them")
    return TOPICS[name]


def check_type_on(spec: TopicSpec, event_type: str | None) -> None:
    """Refuse a ``--type`` no record of ``spec`` can have: a typo printed nothing."""
    if event_type is None:
        return
    if event_type not in EVENTS:
        raise UserError(f"{event_type} is not a catalogue event type (docs/topic-fields.md "
                        "lists them)")
    carried_on = EVENTS[event_type].topic
    if spec.kind is not Kind.DEAD_LETTER and carried_on != spec.name:
        raise UserError(f"{event_type} is carried on {carried_on}, not {spec.name}")


def header_map(headers: Iterable[tuple[str, bytes | None]]) -> dict[str, str]:
    return {k: (v or b"").decode("utf-8", "replace") for k, v in headers}


def topics() -> None:
    """Each catalogue topic: partitions, end offsets, message count, kind and readers."""
    with friendly_errors():
        settings = cli_settings()
        rows = asyncio.run(_topic_rows(settings.kafka_bootstrap_servers, client_login(settings)))
    table = Table(title="Sinergi topics", title_justify="left")
    for column in ("topic", "kind", "partitions", "end offsets", "messages", "readers",
                   "identity numbers"):
        table.add_column(column, justify="right" if column in ("partitions", "end offsets",
                                                               "messages") else "left")
    for row in rows:
        table.add_row(*row)
    console.print(table)


async def _topic_rows(servers: str, login: Mapping[str, Any] | None = None
                      ) -> list[tuple[str, ...]]:
    async with kafka(servers, login) as k, reaching("Kafka", servers):
        parts = await k.partitions(*TOPICS)
        every = [tp for tps in parts.values() for tp in tps]
        begins = await k.consumer.beginning_offsets(every) if every else {}
        ends = await k.consumer.end_offsets(every) if every else {}
    rows: list[tuple[str, ...]] = []
    for spec in TOPICS.values():
        tps = parts[spec.name]
        end = sum(ends[tp] for tp in tps)
        count = end - sum(begins[tp] for tp in tps)
        rows.append((spec.name, spec.kind.value, str(len(tps)) if tps else "missing",
                     str(end), str(count), ", ".join(spec.readers),
                     "yes: social only" if spec.identity_numbers else ""))
    return rows


def tail(
    topic: str = typer.Argument(..., help="A catalogue topic, e.g. sinergi.social.household."),
    household: str | None = typer.Option(
        None, "--household", help="Only this household ref (or case number on intake topics)."),
    event_type: str | None = typer.Option(None, "--type", help="Only this event type."),
    from_beginning: bool = typer.Option(
        False, "--from-beginning", help="Search the whole topic, not its last records."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new records."),
    limit: int | None = typer.Option(
        None, "--limit", "-n", min=1,
        help="At most N records (default: the last 20; none before following with --follow;"
             " all with --from-beginning)."),
) -> None:
    """Decoded records of a topic: time, type, subject, id, causation and a summary."""
    with friendly_errors():
        spec = catalogue_topic(topic)
        check_type_on(spec, event_type)
        if spec.identity_numbers:
            err.print(f"{topic} carries NIK/KK identity numbers: payloads and keys are "
                      "withheld, only envelope headers are shown", markup=False)
        settings = cli_settings()
        asyncio.run(_tail(settings.kafka_bootstrap_servers, spec,
                          lambda r: _matches(r, spec, household, event_type),
                          from_beginning, follow, limit, client_login(settings)))


async def _tail(servers: str, spec: TopicSpec, wanted: Callable[[Record], bool],
                from_beginning: bool, follow: bool, limit: int | None,
                login: Mapping[str, Any] | None = None) -> None:
    async with kafka(servers, login) as k:
        consumer = k.consumer
        async with reaching("Kafka", servers):
            tps = (await k.partitions(spec.name))[spec.name]
            if not tps:
                raise UserError(f"topic {spec.name} does not exist yet")
            begins = await consumer.beginning_offsets(tps)
            ends = await consumer.end_offsets(tps)
        window = limit or 20
        if from_beginning:
            starts = begins
        elif follow:
            starts = dict(ends)
        else:
            starts = {tp: max(begins[tp], ends[tp] - window) for tp in tps}
        backlog = [r async for r in read_range(consumer, starts, ends) if wanted(r)]
        backlog.sort(key=lambda r: (r.timestamp, r.partition, r.offset))
        if from_beginning:
            backlog = backlog[:limit] if limit else backlog
        elif not follow:
            backlog = backlog[-window:]
        for record in backlog:
            console.print(line_of(spec, record), soft_wrap=True, markup=False)
        if not backlog and not follow:
            searched = ("the whole topic" if from_beginning else
                        f"the last {window} records of each partition (--from-beginning "
                        "searches the whole topic)")
            err.print(f"no record of {spec.name} matched in {searched}" if any(
                ends[tp] > begins[tp] for tp in tps) else f"{spec.name} holds no records",
                markup=False)
        if not follow:
            return
        printed = len(backlog)
        err.print(f"following {spec.name} (Ctrl-C to stop)", markup=False)
        while limit is None or printed < limit:
            batch = await consumer.getmany(timeout_ms=500)
            fresh = sorted((r for rs in batch.values() for r in rs if wanted(r)),
                           key=lambda r: (r.timestamp, r.partition, r.offset))
            for record in fresh[: None if limit is None else limit - printed]:
                console.print(line_of(spec, record), soft_wrap=True, markup=False)
                printed += 1


def _matches(record: Record, spec: TopicSpec, household: str | None,
             event_type: str | None) -> bool:
    headers = header_map(record.headers)
    if event_type and headers.get("ce_type") != event_type:
        return False
    if household:
        refs = {headers.get("ce_subject"), headers.get("ce_correlationid")}
        if not spec.identity_numbers and record.key is not None:
            refs.add(record.key.decode("utf-8", "replace"))
        return household in refs
    return True


def line_of(spec: TopicSpec, record: Record) -> str:
    line = describe(spec, record)
    return redact(line) if spec.identity_numbers else line


def describe(spec: TopicSpec, record: Record) -> str:
    """One line per record; never a payload or key of an identity-number topic."""
    where = f"p{record.partition}@{record.offset}"
    headers = header_map(record.headers)
    if spec.kind is Kind.DEAD_LETTER:
        return (f"{_kafka_time(record)} {where} DEAD LETTER {headers.get('dlq_reason')} from "
                f"{headers.get('dlq_topic')}/{headers.get('dlq_partition')}/"
                f"{headers.get('dlq_offset')} group={headers.get('dlq_consumer_group')} "
                f"type={headers.get('ce_type', '-')} id={headers.get('ce_id', '-')}")
    try:
        if spec.identity_numbers:
            envelope = Envelope.from_headers(record.headers)
            summary = "payload withheld: identity numbers"
        else:
            event = decode(record.topic, record.headers, record.value)
            envelope, summary = event.envelope, event.data.summary()
    except (ContractViolation, EnvelopeError) as exc:
        reason = exc.reason.value if isinstance(exc, ContractViolation) else "invalid_envelope"
        detail = exc.detail if isinstance(exc, ContractViolation) else str(exc)
        return (f"{_kafka_time(record)} {where} UNDECODABLE {reason}: {detail} "
                f"(type={headers.get('ce_type', '-')} id={headers.get('ce_id', '-')})")
    return (f"{envelope.time.astimezone(UTC):%Y-%m-%d %H:%M:%SZ} {where} "
            f"{envelope.type} subject={envelope.subject} id={envelope.id} "
            f"caused-by={envelope.causationid or '-'} | {summary}")


def _kafka_time(record: Record) -> str:
    return f"{datetime.fromtimestamp(record.timestamp / 1000, UTC):%Y-%m-%d %H:%M:%SZ}"


def lag(group: str | None = typer.Option(None, help="Only this consumer group.")) -> None:
    """Per consumer group and partition: committed offset, end offset and lag."""
    with friendly_errors():
        settings = cli_settings()
        rows = asyncio.run(_lag_rows(settings.kafka_bootstrap_servers, group,
                                     client_login(settings)))
    table = Table(title="Consumer lag", title_justify="left")
    for column in ("group", "topic", "partition", "committed", "end", "lag"):
        table.add_column(column, justify="left" if column in ("group", "topic") else "right")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    if not rows:
        console.print(f"no consumer group named {group}" if group else
                      "no consumer group has committed offsets yet", markup=False)


async def _lag_rows(servers: str, only: str | None, login: Mapping[str, Any] | None = None
                    ) -> list[tuple[str, ...]]:
    async with kafka(servers, login) as k, reaching("Kafka", servers):
        groups = sorted(g[0] for g in await k.admin.list_consumer_groups())
        rows: list[tuple[str, ...]] = []
        for group in groups if only is None else [g for g in groups if g == only]:
            committed = await k.admin.list_consumer_group_offsets(group)
            # Partitions the group never committed on lag too: list every one of its topics.
            parts = await k.partitions(*sorted({tp.topic for tp in committed}))
            tps = [tp for topic_parts in parts.values() for tp in topic_parts]
            begins = await k.consumer.beginning_offsets(tps) if tps else {}
            ends = await k.consumer.end_offsets(tps) if tps else {}
            for tp in tps:
                meta = committed.get(tp)
                done = meta.offset if meta is not None and meta.offset >= 0 else None
                behind = ends[tp] - (begins[tp] if done is None else done)
                rows.append((group, tp.topic, str(tp.partition),
                             "-" if done is None else str(done), str(ends[tp]), str(behind)))
        return rows
