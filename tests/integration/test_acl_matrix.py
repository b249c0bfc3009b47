"""Per-agency access on a secured broker: the whole matrix of contracts/access.py, proven.

A Kafka of its own (SASL/SCRAM-SHA-512, StandardAuthorizer, ACLs generated from the access
table) in ``<test stack dir>.acl-matrix``. Every principal tries to produce to and consume
from every catalogue topic; each cell must come out exactly as the table says.
"""

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    GroupAuthorizationFailedError,
    TopicAuthorizationFailedError,
)
from rich.console import Console
from rich.table import Table

from contracts.access import ACCESS, ADMIN, SERVICES, Access
from contracts.catalogue import TOPICS
from services.stack import Stack
from services.stack.security import all_bindings, describe_acls
from tests.support import secured_stack

pytestmark = pytest.mark.integration

DENIALS = (TopicAuthorizationFailedError, GroupAuthorizationFailedError,
           ClusterAuthorizationFailedError)
RUN = uuid.uuid4().hex[:8]
SENTINEL = f"acl-matrix-{RUN}".encode()


@dataclass(frozen=True)
class Cell:
    principal: str
    topic: str
    operation: str
    expected: bool
    allowed: bool | None
    """True: it worked; False: denied by an authorization error; None: failed otherwise."""
    detail: str

    @property
    def matches(self) -> bool:
        return self.allowed is self.expected


@pytest.fixture(scope="module")
def secured() -> Iterator[Stack]:
    yield from secured_stack("acl-matrix")


def _denied(exc: BaseException) -> bool:
    return isinstance(exc, DENIALS)


async def produce(stack: Stack, principal: str, topic: str) -> tuple[bool | None, str]:
    producer = AIOKafkaProducer(**stack.client_config(principal), acks="all",
                                enable_idempotence=True, request_timeout_ms=15000)
    try:
        await producer.start()
        await producer.send_and_wait(topic, SENTINEL, key=principal.encode(), partition=0)
        return True, "ok"
    except Exception as exc:
        return (False if _denied(exc) else None), type(exc).__name__
    finally:
        await producer.stop()


async def consume(
    stack: Stack, principal: str, topic: str, group: str | None
) -> tuple[bool | None, str]:
    """Subscribe as a service does, read the admin's sentinel, commit (when in a group)."""
    consumer = AIOKafkaConsumer(topic, **stack.client_config(principal), group_id=group,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                request_timeout_ms=15000)
    try:
        await consumer.start()
        for _ in range(60):
            batches = await consumer.getmany(timeout_ms=500)
            if any(r.value == SENTINEL for records in batches.values() for r in records):
                if group:
                    await consumer.commit()
                return True, "ok"
        return None, "sentinel not read"
    except Exception as exc:
        return (False if _denied(exc) else None), type(exc).__name__
    finally:
        await consumer.stop()


def own_group(access: Access) -> str | None:
    if access.group_prefixes:
        return f"{access.group_prefixes[0]}acl-matrix-{RUN}"
    return f"acl-matrix-{RUN}" if access.super_user else None


async def seed(stack: Stack) -> None:
    """The admin writes one sentinel record to partition 0 of every catalogue topic."""
    producer = AIOKafkaProducer(**stack.client_config(ADMIN), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for topic in TOPICS:
            await producer.send_and_wait(topic, SENTINEL, key=b"admin", partition=0)
    finally:
        await producer.stop()


async def run_matrix(stack: Stack) -> list[Cell]:
    gate = asyncio.Semaphore(8)

    async def cell(access: Access, topic: str, operation: str) -> Cell:
        async with gate:
            if operation == "write":
                allowed, detail = await produce(stack, access.principal, topic)
                expected = access.may_write(topic)
            else:
                allowed, detail = await consume(stack, access.principal, topic, own_group(access))
                expected = access.may_read(topic)
        return Cell(access.principal, topic, operation, expected, allowed, detail)

    return list(await asyncio.gather(*(
        cell(access, topic, operation)
        for access in ACCESS.values() for topic in TOPICS for operation in ("read", "write")
    )))


def show(cells: list[Cell]) -> None:
    def verdict(cell: Cell) -> str:
        want = "allow" if cell.expected else "deny"
        got = {True: "allow", False: "deny", None: "ERROR"}[cell.allowed]
        mark = "[green]✓[/]" if cell.matches else "[bold red]✗[/]"
        return f"{mark} {want}/{got} {cell.detail if cell.detail != 'ok' else ''}".rstrip()

    by_key = {(c.principal, c.topic, c.operation): c for c in cells}
    table = Table(title="ACL matrix (expected/actual)", title_justify="left")
    for column in ("principal", "topic", "consume", "produce"):
        table.add_column(column, no_wrap=True)
    for principal in ACCESS:
        for topic in TOPICS:
            table.add_row(principal, topic, verdict(by_key[principal, topic, "read"]),
                          verdict(by_key[principal, topic, "write"]))
        table.add_section()
    console = Console(width=160, force_terminal=False)
    console.print(table)
    allowed = sum(c.allowed is True for c in cells)
    console.print(f"cells: {len(cells)}, matching: {sum(c.matches for c in cells)}, "
                  f"allowed: {allowed}, denied: {sum(c.allowed is False for c in cells)}, "
                  f"errors: {sum(c.allowed is None for c in cells)}")


async def test_every_principal_may_produce_and_consume_exactly_what_the_access_table_grants(
    secured: Stack,
) -> None:
    await seed(secured)
    cells = await run_matrix(secured)
    show(cells)
    wrong = [c for c in cells if not c.matches]
    assert not wrong, f"{len(wrong)} cells differ from contracts/access.py: {wrong[:5]}"
    assert len(cells) == len(ACCESS) * len(TOPICS) * 2


async def test_an_agency_cannot_consume_in_another_agencys_consumer_group(
    secured: Stack,
) -> None:
    await seed(secured)
    members = [a for a in ACCESS.values() if a.group_prefixes and a.reads]
    outcomes = []
    for access, other in zip(members, members[1:] + members[:1], strict=True):
        topic = min(access.reads)  # one it may read: only the group can deny
        group = f"{other.group_prefixes[0]}acl-matrix-{RUN}"
        allowed, detail = await consume(secured, access.principal, topic, group)
        outcomes.append((access.principal, group, allowed, detail))
        print(f"{access.principal:<13} in group {group:<32} on {topic:<28} -> {detail}")
    assert len(outcomes) == len(SERVICES) + 1  # the four services and the operators
    assert all(allowed is False and detail == "GroupAuthorizationFailedError"
               for *_, allowed, detail in outcomes), outcomes


async def test_the_broker_holds_exactly_the_acls_the_access_table_generates(
    secured: Stack,
) -> None:
    bootstrap = secured.env()["KAFKA_BOOTSTRAP_SERVERS"]
    assert secured.security is not None
    held = await describe_acls(bootstrap, secured.security)
    expected = set(all_bindings())
    print(f"ACL bindings on the broker: {len(held)}, generated from contracts/access.py: "
          f"{len(expected)}")
    assert held == expected


def test_the_operator_cli_logs_in_as_the_operators_principal(secured: Stack) -> None:
    from typer.testing import CliRunner

    from contracts.access import OPERATORS
    from services.cli.main import app

    assert secured.security is not None
    env = {"KAFKA_BOOTSTRAP_SERVERS": secured.env()["KAFKA_BOOTSTRAP_SERVERS"],
           "DATABASE_URL": "postgresql+asyncpg://nobody@127.0.0.1:1/none",
           "KAFKA_SASL_USERNAME": OPERATORS,
           "KAFKA_SASL_PASSWORD": secured.security.passwords[OPERATORS],
           "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT"}
    for command in (["topics"], ["lag"], ["dlq", "list"]):
        result = CliRunner().invoke(app, command, env=env)
        assert result.exit_code == 0, (command, result.output)
    # Logged in, they read the dead-letter topic: a letter there (the matrix's own) or none.
    for command in (["dlq", "show", "0", "-p", "0"], ["dlq", "replay", "0", "-p", "0"]):
        result = CliRunner().invoke(app, command, env=env)
        assert "sinergi.deadletter" in result.output, (command, result.output)
        assert "cannot reach Kafka" not in result.output, (command, result.output)
    assert "sinergi.social.household" in CliRunner().invoke(app, ["topics"], env=env).output
