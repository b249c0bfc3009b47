"""The stack's Kafka part: one standalone node, or N combined nodes forming an N-voter quorum.

A cluster keeps its layout (cluster id; each node's id, ports and metadata directory id) in
``<stack>/kafka/cluster.json``: the ports are part of every node's quorum configuration and
the ids of every node's formatted storage, so they never change while the data lives.
A secured stack adds SASL/SCRAM logins and ACLs (``security.py``).
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .common import StackError, free_port, run_sync
from .kafka import HOST, KafkaNode, Voter, random_cluster_id
from .security import Security, provision


@dataclass
class KafkaCluster:
    root: Path
    nodes: list[KafkaNode]
    security: Security | None = None

    @classmethod
    def load(
        cls, root: Path, brokers: int, secured: bool, entry: dict[str, Any]
    ) -> KafkaCluster:
        """The cluster under ``root`` with the pids and ports on record in ``entry``."""
        security = Security.load_or_create(root / "credentials.json") if secured else None
        recorded = {n["node_id"]: n for n in entry.get("nodes", [])}
        if brokers == 1:
            prev = recorded.get(1, entry)
            node = KafkaNode(root, prev.get("port", 0), prev.get("controller_port", 0),
                             prev.get("pid"), security=security)  # fmt: skip
            return cls(root, [node], security)
        layout = _layout(root / "cluster.json", brokers)
        voters = tuple(Voter(n["node_id"], n["controller_port"], n["directory_id"])
                       for n in layout["nodes"])  # fmt: skip
        nodes = [
            KafkaNode(root / f"node-{n['node_id']}", n["port"], n["controller_port"],
                      recorded.get(n["node_id"], {}).get("pid"), n["node_id"], voters,
                      layout["cluster_id"], security)
            for n in layout["nodes"]
        ]
        return cls(root, nodes, security)

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(n.bootstrap_servers for n in self.nodes)

    @property
    def pid(self) -> int | None:
        return self.nodes[0].pid

    @property
    def port(self) -> int:
        return self.nodes[0].port

    @property
    def log_file(self) -> Path:
        return self.nodes[0].log_file

    def node(self, node_id: int) -> KafkaNode:
        for node in self.nodes:
            if node.node_id == node_id:
                return node
        raise StackError(f"no kafka node {node_id} (nodes: {[n.node_id for n in self.nodes]})")

    def is_running(self) -> bool:
        return all(n.is_running() for n in self.nodes)

    def healthy(self) -> bool:
        return all(n.answers() for n in self.nodes)

    def start(self, timeout: float = 90.0) -> None:
        """Start every node not running, wait for all, then (secured) provision ACLs and topics."""
        for node in self.nodes:
            node.launch()
        deadline = time.monotonic() + timeout
        try:
            for node in self.nodes:
                node.wait_ready(max(5.0, deadline - time.monotonic()))
            if len(self.nodes) > 1:
                self._await_brokers(deadline)
            if self.security:
                rf = min(3, len(self.nodes))
                run_sync(lambda: provision(self.bootstrap_servers, self.security, rf))  # type: ignore[arg-type]
        except BaseException:
            self.stop(timeout=5)
            raise

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM every node at once (one by one, the last ones wait for a lost quorum)."""
        self._each(lambda n: n.stop(timeout))

    def kill(self) -> None:
        self._each(KafkaNode.kill)

    def restart(self, timeout: float = 90.0) -> None:
        self.stop()
        self.start(timeout)

    def _each(self, action: Any) -> None:
        if len(self.nodes) == 1:
            action(self.nodes[0])
            return
        with ThreadPoolExecutor(max_workers=len(self.nodes)) as pool:
            list(pool.map(action, self.nodes))

    def _await_brokers(self, deadline: float) -> None:
        """Every node registered and unfenced: only then can a topic have all its replicas."""
        from aiokafka.admin import AIOKafkaAdminClient

        async def count() -> int:
            login = self.security.client() if self.security else {}
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap_servers, **login)
            await admin.start()
            try:
                return len((await admin.describe_cluster())["brokers"])
            finally:
                await admin.close()

        while (seen := run_sync(count)) < len(self.nodes):
            if time.monotonic() > deadline:
                raise StackError(f"only {seen} of {len(self.nodes)} kafka brokers registered")
            time.sleep(0.3)


def _layout(path: Path, brokers: int) -> dict[str, Any]:
    """Read the cluster's layout, or choose one (free ports, fresh ids) for a new cluster."""
    if path.is_file():
        layout: dict[str, Any] = json.loads(path.read_text())
        if len(layout["nodes"]) != brokers:
            raise StackError(f"{path.parent} holds a {len(layout['nodes'])}-node cluster, not "
                             f"{brokers}; run 'sinergi stack down --purge' first")  # fmt: skip
        return layout
    ports: set[int] = set()
    while len(ports) < 2 * brokers:
        ports.add(free_port(HOST))
    free = sorted(ports)
    layout = {
        "cluster_id": random_cluster_id(),
        "nodes": [{"node_id": i, "port": free[2 * i - 2], "controller_port": free[2 * i - 1],
                   "directory_id": random_cluster_id()} for i in range(1, brokers + 1)],
    }  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(layout, indent=2) + "\n")
    return layout
