"""A secured local Kafka: SASL/SCRAM-SHA-512 logins and ACLs from ``contracts.access``.

Clients and brokers talk SASL/SCRAM-SHA-512 on the client listener; the controllers'
listener uses SASL/PLAIN with a static ``controller`` login, since SCRAM credentials live in
the metadata log the controllers serve. Every principal's password is generated on first use,
development-only, and kept in ``<stack>/kafka/credentials.json`` (mode 0600, never in git);
the SCRAM credentials enter the cluster when its storage is formatted (``--add-scram``).
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any

from contracts.access import ACCESS, ADMIN, Access

from .common import StackError

MECHANISM = "SCRAM-SHA-512"
CONTROLLER = "controller"
AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
SCRAM_MODULE = "org.apache.kafka.common.security.scram.ScramLoginModule"
PLAIN_MODULE = "org.apache.kafka.common.security.plain.PlainLoginModule"


class Resource(IntEnum):  # Kafka's wire codes (org.apache.kafka.common.resource.ResourceType)
    TOPIC = 2
    GROUP = 3


class Pattern(IntEnum):
    LITERAL = 3
    PREFIXED = 4


class Operation(IntEnum):
    READ = 3
    WRITE = 4
    DESCRIBE = 8


ALLOW = 3


@dataclass(frozen=True)
class AclBinding:
    principal: str
    resource: Resource
    name: str
    pattern: Pattern
    operation: Operation

    def wire(self) -> tuple[int, str, int, str, str, int, int]:
        """The CreateAcls v1 creation entry."""
        return (self.resource, self.name, self.pattern, f"User:{self.principal}", "*",
                self.operation, ALLOW)  # fmt: skip


def acl_bindings(access: Access) -> list[AclBinding]:
    """The ALLOW bindings one principal's row of the access table stands for."""
    p, out = access.principal, []
    out += [AclBinding(p, Resource.TOPIC, t, Pattern.LITERAL, Operation.READ)
            for t in sorted(access.reads)]  # fmt: skip
    out += [AclBinding(p, Resource.TOPIC, t, Pattern.LITERAL, Operation.WRITE)
            for t in sorted(access.writes)]  # fmt: skip
    out += [AclBinding(p, Resource.GROUP, g, Pattern.PREFIXED, Operation.READ)
            for g in access.group_prefixes]  # fmt: skip
    if access.observes_all:
        out += [AclBinding(p, r, "*", Pattern.LITERAL, Operation.DESCRIBE)
                for r in (Resource.TOPIC, Resource.GROUP)]  # fmt: skip
    return out


def all_bindings() -> list[AclBinding]:
    return [b for access in ACCESS.values() if not access.super_user for b in acl_bindings(access)]


@dataclass(frozen=True)
class Security:
    """The passwords of one secured stack and the broker/client settings that use them."""

    passwords: dict[str, str]

    @classmethod
    def load_or_create(cls, path: Path) -> Security:
        """Read the stack's passwords, adding one for any principal the table gained."""
        try:
            passwords = json.loads(path.read_text()) if path.is_file() else {}
        except (OSError, ValueError) as exc:
            raise StackError(f"cannot read {path}: {exc}") from exc
        wanted = [*ACCESS, CONTROLLER]
        if any(name not in passwords for name in wanted):
            passwords = {n: passwords.get(n) or secrets.token_urlsafe(24) for n in wanted}
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump(passwords, handle, indent=2)
            path.with_suffix(".tmp").replace(path)
        return cls(passwords)

    def format_args(self) -> list[str]:
        """``StorageTool format`` arguments that put every SCRAM login into the metadata log."""
        args = []
        for name in ACCESS:
            args += ["--add-scram", f"{MECHANISM}=[name={name},password={self.passwords[name]}]"]
        return args

    def server_props(self) -> dict[str, str]:
        admin, ctl = self.passwords[ADMIN], self.passwords[CONTROLLER]
        supers = [f"User:{a.principal}" for a in ACCESS.values() if a.super_user]
        return {
            "listener.security.protocol.map": "CLIENT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT",
            "inter.broker.listener.name": "CLIENT",
            "sasl.enabled.mechanisms": MECHANISM,
            "sasl.mechanism.inter.broker.protocol": MECHANISM,
            "listener.name.client.scram-sha-512.sasl.jaas.config":
                f'{SCRAM_MODULE} required username="{ADMIN}" password="{admin}";',
            "sasl.mechanism.controller.protocol": "PLAIN",
            "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
            "listener.name.controller.plain.sasl.jaas.config":
                f'{PLAIN_MODULE} required username="{CONTROLLER}" password="{ctl}" '
                f'user_{CONTROLLER}="{ctl}";',
            "authorizer.class.name": AUTHORIZER,
            "super.users": ";".join([*supers, f"User:{CONTROLLER}"]),
            "allow.everyone.if.no.acl.found": "false",
        }  # fmt: skip

    def client(self, principal: str = ADMIN) -> dict[str, Any]:
        """aiokafka keyword arguments that log in as ``principal``."""
        if principal not in self.passwords:
            raise StackError(f"no credentials for principal {principal!r}")
        return {
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": MECHANISM,
            "sasl_plain_username": principal,
            "sasl_plain_password": self.passwords[principal],
        }


async def provision(bootstrap_servers: str, security: Security, replication_factor: int) -> None:
    """As ``admin``: create the ACLs of the access table and every catalogue topic (both
    idempotent), since no agency principal may create topics on a secured broker."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError, for_code
    from aiokafka.protocol.admin import CreateAclsRequest_v1
    from aiokafka.protocol.api import Request

    from contracts.catalogue import TOPICS
    from services.runtime.kafka import topic_configs

    class CreateAcls(Request[CreateAclsRequest_v1]):  # aiokafka's own sends one ACL a request
        API_KEY = 30

        def __init__(self, bindings: list[AclBinding]) -> None:
            self.bindings = bindings

        def build(self, request_struct_class: type[CreateAclsRequest_v1]) -> CreateAclsRequest_v1:
            return request_struct_class([b.wire() for b in self.bindings])

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, **security.client())
    await admin.start()
    try:
        wanted = all_bindings()
        response = await admin._send_request(CreateAcls(wanted))
        failed = [(code, msg) for code, msg in response.creation_responses if code]
        if failed:
            raise StackError(f"creating ACLs failed: {for_code(failed[0][0]).__name__} "
                             f"{failed[0][1]} ({len(failed)} of them)")  # fmt: skip
        existing = set(await admin.list_topics())
        missing = [NewTopic(spec.name, spec.partitions, replication_factor,
                            topic_configs=topic_configs(spec, replication_factor))
                   for spec in TOPICS.values() if spec.name not in existing]  # fmt: skip
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass
        await _until_led(admin, list(TOPICS))
    finally:
        await admin.close()
    await _until_enforced(bootstrap_servers, security, set(wanted))


async def describe_acls(bootstrap_servers: str, security: Security) -> set[AclBinding]:
    """Every ALLOW binding the broker holds (as ``admin``), to compare with the access table."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, **security.client())
    await admin.start()
    try:
        return await _described(admin, None)
    finally:
        await admin.close()


async def _described(admin: Any, node_id: int | None) -> set[AclBinding]:
    from aiokafka.errors import for_code
    from aiokafka.protocol.admin import DescribeAclsRequest

    any_ = 1  # ANY for resource type, pattern type, operation and permission
    response = await admin._send_request(
        DescribeAclsRequest(any_, None, any_, None, None, any_, any_), node_id)  # type: ignore[arg-type]
    if response.error_code:
        raise StackError(f"describing ACLs failed: {for_code(response.error_code).__name__}")
    return {
        AclBinding(principal.removeprefix("User:"), Resource(rtype), name, Pattern(ptype),
                   Operation(op))
        for rtype, name, ptype, acls in response.resources
        for principal, _host, op, permission in acls if permission == ALLOW
    }  # fmt: skip


async def _until_enforced(
    bootstrap_servers: str, security: Security, wanted: set[AclBinding], within: float = 30.0
) -> None:
    # The controller commits new ACLs before every broker's authorizer has applied them;
    # a client arriving in between would be refused what the table grants. Ask each broker.
    import asyncio

    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, **security.client())
    await admin.start()
    try:
        deadline = asyncio.get_running_loop().time() + within
        for broker in admin._client.cluster.brokers():
            while not wanted <= await _described(admin, broker.nodeId):
                if asyncio.get_running_loop().time() > deadline:
                    raise StackError(f"broker {broker.nodeId} does not enforce the new ACLs "
                                     f"after {within:.0f}s")  # fmt: skip
                await asyncio.sleep(0.2)
    finally:
        await admin.close()


async def _until_led(admin: Any, names: list[str], within: float = 60.0) -> None:
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        described = await admin.describe_topics(names)
        if all(t["error_code"] == 0 and t["partitions"]
               and all(p["leader"] >= 0 for p in t["partitions"]) for t in described):
            return
        if loop.time() > deadline:
            raise StackError(f"catalogue topics have no partition leaders after {within:.0f}s")
        await asyncio.sleep(0.2)
