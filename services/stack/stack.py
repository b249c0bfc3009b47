"""The local stack (Kafka + PostgreSQL) with its state in ``<stack dir>/stack.json``."""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .cluster import KafkaCluster
from .common import StackError, file_lock, port_open, stack_dir
from .postgres import PostgresNode
from .security import Security

log = logging.getLogger(__name__)

KAFKA, POSTGRES = "kafka", "postgres"
PARTS = (KAFKA, POSTGRES)
ENV = {KAFKA: "KAFKA_BOOTSTRAP_SERVERS", POSTGRES: "DATABASE_URL"}
Part = Literal["kafka", "postgres"]
Node = KafkaCluster | PostgresNode
DEFAULTS = {"brokers": 1, "secured": False, "postgres": True}


@dataclass(frozen=True)
class PartStatus:
    """One part of the stack: ``running``, ``stopped`` or ``external`` (not ours to manage)."""

    name: str
    state: str
    address: str | None
    pid: int | None = None


class Stack:
    """Starts what is missing, reuses what runs, and stops only what it started.

    ``brokers=3`` runs three combined broker+controller nodes (a 3-voter quorum);
    ``secured=True`` runs Kafka with SASL/SCRAM logins and the ACLs of ``contracts.access``;
    ``postgres=False`` runs Kafka alone. Left unset, each takes what the stack folder recorded
    when it was brought up, else a single open node with PostgreSQL.
    """

    def __init__(
        self, root: Path | None = None, *, brokers: int | None = None,
        secured: bool | None = None, postgres: bool | None = None,
    ) -> None:  # fmt: skip
        self.root = (root or stack_dir()).resolve()
        self.state_file = self.root / "stack.json"
        asked = {"brokers": brokers, "secured": secured, "postgres": postgres}
        self._asked = {k: v for k, v in asked.items() if v is not None}
        if brokers is not None and brokers < 1:
            raise StackError("brokers must be at least 1")

    @property
    def config(self) -> dict[str, Any]:
        """``brokers``, ``secured``, ``postgres``: as asked, else as recorded, else defaults."""
        recorded = self._read().get("config") or self._found()
        return {**DEFAULTS, **recorded, **self._asked}

    def _found(self) -> dict[str, Any]:
        """The shape of Kafka data left in the folder (its state file went with ``down``)."""
        found: dict[str, Any] = {}
        layout = self.root / KAFKA / "cluster.json"
        if layout.is_file():
            found["brokers"] = len(json.loads(layout.read_text())["nodes"])
        if (self.root / KAFKA / "credentials.json").is_file():
            found["secured"] = True
        return found

    @property
    def parts(self) -> tuple[str, ...]:
        return PARTS if self._shape()["postgres"] else (KAFKA,)

    def _shape(self) -> dict[str, Any]:
        """What the folder holds (recorded or found), which every call but ``up`` acts on."""
        recorded = self._read().get("config") or self._found()
        return {**DEFAULTS, **recorded} if recorded else self.config

    def up(self, timeout: float = 90.0) -> dict[str, Any]:
        """Idempotent: reuse a healthy running stack, start the rest; returns the saved state."""
        self.root.mkdir(parents=True, exist_ok=True)
        with file_lock(self.root / ".lock"):
            state = self._load()
            self._check_config(state)
            state["config"] = self.config
            self._save(state)
            started: list[Node] = []
            try:
                for part in self.parts:
                    state[part] = self._up_part(part, state.get(part, {}), started, timeout)
                    self._save(state)
            except BaseException:
                for node in reversed(started):  # a failed `up` leaves nothing running
                    node.stop()
                    state[self._name(node)] = self._entry(node)
                self._save(state)
                raise
            return state

    def down(self, purge: bool = False) -> list[str]:
        """Stop the parts this stack started (never external ones); ``purge`` also deletes data."""
        with file_lock(self.root / ".lock"):
            state = self._load()
            stopped = []
            for part in PARTS:
                entry = state.get(part, {})
                if entry.get("external") or (part == POSTGRES and part not in self.parts):
                    continue
                node = self._node(part, entry)
                was_running = any(n.is_running() for n in self._members(node))
                if purge and isinstance(node, KafkaCluster):
                    node.kill()  # its data is deleted next: a controlled shutdown buys nothing
                else:
                    node.stop()  # also finds strays of this stack dir without a pid on record
                if was_running:
                    stopped.append(part)
                if purge:
                    shutil.rmtree(node.root, ignore_errors=True)
            if purge:
                self.state_file.unlink(missing_ok=True)
            else:  # keep the shape, so a plain `up` brings back the same kind of stack
                self._save({"config": self._shape()})
            return stopped

    def status(self) -> list[PartStatus]:
        """Each part (each Kafka node of a cluster) with its state and address; starts nothing."""
        state = self._load()
        result = []
        for part in self.parts:
            entry = state.get(part) or self._external_entry(part, {}) or {}
            if entry.get("external"):
                result.append(PartStatus(part, "external", entry["address"]))
                continue
            node = self._node(part, entry)
            if isinstance(node, KafkaCluster) and len(node.nodes) > 1:
                result += [PartStatus(f"kafka-{n.node_id}", "running" if n.is_running()
                                      else "stopped", n.bootstrap_servers, n.pid)
                           for n in node.nodes]  # fmt: skip
                continue
            running = node.is_running()
            address = entry.get("address") if entry else None
            result.append(PartStatus(part, "running" if running else "stopped", address, node.pid))
        return result

    def env(self) -> dict[str, str]:
        """``KAFKA_BOOTSTRAP_SERVERS`` and ``DATABASE_URL`` of the stack, for subprocesses;
        on a cluster of its own also ``SINERGI_REPLICATION_FACTOR`` (3 at most), so the
        topics services create are replicated as the cluster allows."""
        state = self._load()
        env = {}
        for part in PARTS:
            value = state.get(part, {}).get("address") or os.environ.get(ENV[part])
            if not value and part in self.parts:
                raise StackError(f"{part} is not up; run 'sinergi stack up' first")
            if value:
                env[ENV[part]] = value
        brokers = self.config["brokers"]
        if brokers > 1 and not state.get(KAFKA, {}).get("external"):
            env["SINERGI_REPLICATION_FACTOR"] = str(min(3, brokers))
        return env

    def stop_part(self, part: Part, hard: bool = False) -> None:
        """Stop one managed part, keeping its data (``hard``: SIGKILL, no clean shutdown)."""
        self._with_node(part, lambda node: node.kill() if hard else node.stop())

    def start_part(self, part: Part, timeout: float = 90.0) -> None:
        """Start one managed part again on the same ports with the same data."""
        self._with_node(part, lambda node: node.start(timeout))

    def restart(self, part: Part, hard: bool = False, timeout: float = 90.0) -> None:
        """Stop (or kill) then start one managed part, keeping its ports and data."""
        self.stop_part(part, hard)
        self.start_part(part, timeout)

    def stop_broker(self, node_id: int, hard: bool = False) -> None:
        """Stop one Kafka node (``hard``: SIGKILL), the rest of the cluster keeps running."""
        self._with_node(KAFKA, lambda c: c.node(node_id).kill() if hard
                        else c.node(node_id).stop())  # fmt: skip

    def start_broker(self, node_id: int, timeout: float = 90.0) -> None:
        """Start one Kafka node again with its data and ports."""
        self._with_node(KAFKA, lambda c: c.node(node_id).start(timeout))

    def broker_pids(self) -> dict[int, int | None]:
        """Node id → pid of each Kafka node on record."""
        cluster = self._node(KAFKA, self._load().get(KAFKA, {}))
        assert isinstance(cluster, KafkaCluster)
        return {n.node_id: n.pid if n.is_running() else None for n in cluster.nodes}

    @property
    def security(self) -> Security | None:
        """The logins of a secured stack (development-only, in ``<stack>/kafka``), else None."""
        if not self._shape()["secured"]:
            return None
        return Security.load_or_create(self.root / KAFKA / "credentials.json")

    def client_config(self, principal: str = "admin") -> dict[str, Any]:
        """aiokafka keyword arguments to reach this stack's Kafka, as ``principal`` if secured."""
        security = self.security
        login = security.client(principal) if security else {}
        return {"bootstrap_servers": self.env()[ENV[KAFKA]], **login}

    # -- internals ---------------------------------------------------------------------------

    def _check_config(self, state: dict[str, Any]) -> None:
        """A folder's Kafka data belongs to one shape of cluster: no silent reshaping."""
        recorded, wanted = state.get("config") or self._found(), self.config
        if not recorded or not (self.root / KAFKA).exists():
            return
        if any(recorded.get(k, DEFAULTS[k]) != wanted[k] for k in ("brokers", "secured")):
            raise StackError(f"{self.root} holds a stack with {recorded}; asked for "
                             f"{wanted}: run 'sinergi stack down --purge' first")  # fmt: skip

    def _up_part(
        self, part: str, prev: dict[str, Any], started: list[Node], timeout: float
    ) -> dict[str, Any]:
        external = self._external_entry(part, prev)
        if external:
            if not prev.get("external") and prev:
                self._node(part, prev).stop()  # switching to an external server: do not leak ours
            return external
        node = self._node(part, prev)
        if node.is_running() and self._healthy(node):
            log.info("%s already running (pid %s), reusing it", part, node.pid)
        else:
            if isinstance(node, PostgresNode) or len(node.nodes) == 1:
                node.stop()  # a cluster starts only its missing nodes: the rest hold the quorum
            began = time.monotonic()
            node.start(timeout)
            started.append(node)
            log.info("%s started in %.1fs (pid %s)", part, time.monotonic() - began, node.pid)
        return self._entry(node)

    def _external_entry(self, part: str, prev: dict[str, Any]) -> dict[str, Any] | None:
        value = os.environ.get(ENV[part])
        if not value or (not prev.get("external") and prev.get("address") == value):
            return None  # unset, or it points at our own server (e.g. after `eval $(stack env)`)
        if part == KAFKA and (self._shape()["secured"] or self._shape()["brokers"] > 1):
            return None  # the tests of ACLs and of replication need a Kafka of their own
        return {"external": True, "address": value}

    def _node(self, part: str, entry: dict[str, Any]) -> Node:
        if part == KAFKA:
            cfg = self._shape()
            return KafkaCluster.load(self.root / KAFKA, cfg["brokers"], cfg["secured"], entry)
        return PostgresNode(self.root / POSTGRES, entry.get("port", 0), entry.get("pid"))

    @staticmethod
    def _members(node: Node) -> list[Any]:
        return list(node.nodes) if isinstance(node, KafkaCluster) else [node]

    @staticmethod
    def _entry(node: Node) -> dict[str, Any]:
        if isinstance(node, KafkaCluster):
            first = node.nodes[0]
            nodes = [{"node_id": n.node_id, "pid": n.pid, "port": n.port,
                      "controller_port": n.controller_port, "log": str(n.log_file)}
                     for n in node.nodes]  # fmt: skip
            extra = {"address": node.bootstrap_servers, "controller_port": first.controller_port,
                     "nodes": nodes}  # fmt: skip
        else:
            extra = {"address": node.url}
        return {"external": False, "pid": node.pid, "port": node.port,
                "log": str(node.log_file), **extra}  # fmt: skip

    @staticmethod
    def _healthy(node: Node) -> bool:
        if isinstance(node, KafkaCluster):
            return node.healthy()
        return port_open(node.port)

    @staticmethod
    def _name(node: Node) -> str:
        return KAFKA if isinstance(node, KafkaCluster) else POSTGRES

    def _with_node(self, part: str, action: Any) -> None:
        with file_lock(self.root / ".lock"):
            state = self._load()
            entry = state.get(part)
            if not entry or entry.get("external"):
                raise StackError(f"{part} is not managed by this stack (run 'sinergi stack up')")
            node = self._node(part, entry)
            action(node)
            state[part] = self._entry(node)
            self._save(state)

    def _read(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self.state_file.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise StackError(f"cannot read {self.state_file}: {exc}") from exc
        return data

    def _load(self) -> dict[str, Any]:
        return {k: v for k, v in self._read().items() if k in (*PARTS, "config")}

    def _save(self, state: dict[str, Any]) -> None:
        data = {p: state[p] for p in (*PARTS, "config") if p in state}
        data["env"] = {ENV[p]: state[p]["address"] for p in PARTS if p in state}
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        tmp.replace(self.state_file)


def stack_env(root: Path | None = None) -> dict[str, str]:
    """``{"KAFKA_BOOTSTRAP_SERVERS": ..., "DATABASE_URL": ...}`` of the stack that is up."""
    return Stack(root).env()
