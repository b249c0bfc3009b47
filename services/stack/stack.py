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

from .common import StackError, file_lock, port_open, run_sync, stack_dir
from .kafka import KafkaNode, metadata_ok
from .postgres import PostgresNode

log = logging.getLogger(__name__)

KAFKA, POSTGRES = "kafka", "postgres"
PARTS = (KAFKA, POSTGRES)
ENV = {KAFKA: "KAFKA_BOOTSTRAP_SERVERS", POSTGRES: "DATABASE_URL"}
Part = Literal["kafka", "postgres"]
Node = KafkaNode | PostgresNode


@dataclass(frozen=True)
class PartStatus:
    """One part of the stack: ``running``, ``stopped`` or ``external`` (not ours to manage)."""

    name: str
    state: str
    address: str | None
    pid: int | None = None


class Stack:
    """Starts what is missing, reuses what runs, and stops only what it started."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = (root or stack_dir()).resolve()
        self.state_file = self.root / "stack.json"

    def up(self, timeout: float = 90.0) -> dict[str, Any]:
        """Idempotent: reuse a healthy running stack, start the rest; returns the saved state."""
        self.root.mkdir(parents=True, exist_ok=True)
        with file_lock(self.root / ".lock"):
            state = self._load()
            started: list[Node] = []
            try:
                for part in PARTS:
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
                if state.get(part, {}).get("external"):
                    continue
                node = self._node(part, state.get(part, {}))
                was_running = node.is_running()
                node.stop()  # also finds strays of this stack dir without a pid on record
                if was_running:
                    stopped.append(part)
                if purge:
                    shutil.rmtree(node.root, ignore_errors=True)
            self.state_file.unlink(missing_ok=True)
            return stopped

    def status(self) -> list[PartStatus]:
        """Each part with its state and address (reads state; starts nothing)."""
        state = self._load()
        result = []
        for part in PARTS:
            entry = state.get(part) or self._external_entry(part, {}) or {}
            if entry.get("external"):
                result.append(PartStatus(part, "external", entry["address"]))
                continue
            node = self._node(part, entry)
            running = node.is_running()
            address = entry.get("address") if entry else None
            result.append(PartStatus(part, "running" if running else "stopped", address, node.pid))
        return result

    def env(self) -> dict[str, str]:
        """``KAFKA_BOOTSTRAP_SERVERS`` and ``DATABASE_URL`` of the stack, for subprocesses."""
        state = self._load()
        env = {}
        for part in PARTS:
            value = state.get(part, {}).get("address") or os.environ.get(ENV[part])
            if not value:
                raise StackError(f"{part} is not up; run 'sinergi stack up' first")
            env[ENV[part]] = value
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

    # -- internals ---------------------------------------------------------------------------

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
            node.stop()
            began = time.monotonic()
            node.start(timeout)
            started.append(node)
            log.info("%s started in %.1fs (pid %s)", part, time.monotonic() - began, node.pid)
        return self._entry(node)

    def _external_entry(self, part: str, prev: dict[str, Any]) -> dict[str, Any] | None:
        value = os.environ.get(ENV[part])
        if not value or (not prev.get("external") and prev.get("address") == value):
            return None  # unset, or it points at our own server (e.g. after `eval $(stack env)`)
        return {"external": True, "address": value}

    def _node(self, part: str, entry: dict[str, Any]) -> Node:
        if part == KAFKA:
            ports = entry.get("port", 0), entry.get("controller_port", 0)
            return KafkaNode(self.root / KAFKA, *ports, entry.get("pid"))
        return PostgresNode(self.root / POSTGRES, entry.get("port", 0), entry.get("pid"))

    @staticmethod
    def _entry(node: Node) -> dict[str, Any]:
        if isinstance(node, KafkaNode):
            extra = {"address": node.bootstrap_servers, "controller_port": node.controller_port}
        else:
            extra = {"address": node.url}
        return {"external": False, "pid": node.pid, "port": node.port,
                "log": str(node.log_file), **extra}  # fmt: skip

    @staticmethod
    def _healthy(node: Node) -> bool:
        if isinstance(node, KafkaNode):
            return run_sync(lambda: metadata_ok(node.bootstrap_servers, 3000))
        return port_open(node.port)

    @staticmethod
    def _name(node: Node) -> str:
        return KAFKA if isinstance(node, KafkaNode) else POSTGRES

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

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.state_file.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise StackError(f"cannot read {self.state_file}: {exc}") from exc
        return {k: v for k, v in data.items() if k in PARTS}

    def _save(self, state: dict[str, Any]) -> None:
        data = {p: state[p] for p in PARTS if p in state}
        data["env"] = {ENV[p]: state[p]["address"] for p in PARTS if p in state}
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        tmp.replace(self.state_file)


def stack_env(root: Path | None = None) -> dict[str, str]:
    """``{"KAFKA_BOOTSTRAP_SERVERS": ..., "DATABASE_URL": ...}`` of the stack that is up."""
    return Stack(root).env()
