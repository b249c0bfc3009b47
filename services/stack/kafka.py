"""One Kafka 4.1 KRaft node (broker+controller combined) run from the Maven-resolved jars.

Alone it is a standalone single-voter quorum; in a cluster (``cluster.py``) it is one of the
voters named in ``voters``, formatted with the cluster's id and ``--initial-controllers``.
"""

from __future__ import annotations

import base64
import logging
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

from . import common
from .common import StackError, cmdline, free_port, pid_alive, port_is_free, tail
from .maven import ensure_kafka_libs
from .security import Security

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
JVM_OPTS = [
    "-Xms64m", "-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
    "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true", "-Dlog4j2.shutdownHookEnabled=false",
]  # fmt: skip

LOG4J2_TEMPLATE = Path(__file__).with_name("kafka-log4j2.xml")


def random_cluster_id() -> str:
    """A Kafka cluster id: a random UUID in unpadded base64url, like ``StorageTool random-uuid``."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


async def metadata_ok(
    bootstrap_servers: str, timeout_ms: int = 5000, security: Security | None = None
) -> bool:
    """True when a broker at ``bootstrap_servers`` answers a metadata request."""
    from aiokafka.admin import AIOKafkaAdminClient

    login = security.client() if security else {}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=timeout_ms,
                                **login)
    with common.quiet_logger("aiokafka"):  # it logs connection errors while a broker starts
        try:
            await admin.start()
            await admin.list_topics()
            return True
        except Exception:
            return False
        finally:
            await admin.close()


@dataclass(frozen=True)
class Voter:
    """A controller of a multi-node quorum: ``id@host:port:directory-id`` for StorageTool."""

    node_id: int
    controller_port: int
    directory_id: str

    def spec(self) -> str:
        return f"{self.node_id}@{HOST}:{self.controller_port}:{self.directory_id}"


@dataclass
class KafkaNode:
    """One KRaft node; config, data and logs live under ``root``; ports survive restarts."""

    root: Path
    port: int = 0
    controller_port: int = 0
    pid: int | None = None
    node_id: int = 1
    voters: tuple[Voter, ...] = ()
    """Every controller of the quorum; empty for a standalone single node."""
    cluster_id: str = ""
    security: Security | None = field(default=None, repr=False)

    @property
    def bootstrap_servers(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.root / "logs" / "server.log"

    @property
    def _config(self) -> Path:
        return self.root / "server.properties"

    def is_running(self) -> bool:
        """The recorded pid is alive and is this node's ``kafka.Kafka`` process."""
        pid = self.pid
        return pid is not None and pid_alive(pid) and str(self._config) in cmdline(pid)

    def start(self, timeout: float = 60.0) -> None:
        """Start (formatting storage on first use) and wait until the broker answers metadata."""
        self.launch()
        self.wait_ready(timeout)

    def launch(self) -> None:
        """Start the JVM without waiting: a cluster's nodes need each other to become ready."""
        if self.is_running():
            return
        if shutil.which("java") is None:
            raise StackError("'java' (JDK 17+) is not on PATH; the local Kafka broker needs it")
        libs = ensure_kafka_libs()
        self._choose_ports()
        self._write_config()
        if not (self.root / "data" / "meta.properties").is_file():
            quorum = (["--initial-controllers", ",".join(v.spec() for v in self.voters)]
                      if self.voters else ["--standalone"])  # fmt: skip
            login = self.security.format_args() if self.security else []
            self._java(libs, "kafka.tools.StorageTool", "format", "-t",
                       self.cluster_id or random_cluster_id(), "-c", str(self._config),
                       *quorum, *login)  # fmt: skip
        with self._out.open("ab") as sink:
            proc = subprocess.Popen(
                self._java_cmd(libs, "kafka.Kafka", str(self._config)),
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                cwd=self.root,
                start_new_session=True,
            )
        self.pid = proc.pid
        (self.root / "kafka.pid").write_text(f"{proc.pid}\n")

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM (controlled shutdown), SIGKILL after ``timeout`` s; strays of this dir too."""
        for pid in self._own_pids():
            if not common.terminate(pid, timeout):
                log.warning("kafka pid %s ignored SIGTERM for %.0fs; killed", pid, timeout)
        self.pid = None

    def kill(self) -> None:
        """SIGKILL without a controlled shutdown (for chaos tests); data stays for ``start``."""
        for pid in self._own_pids():
            common.kill(pid)
        self.pid = None

    def _own_pids(self) -> list[int]:
        """The recorded pid and any stray JVM of this node's config that is alive."""
        found = {*common.pids_matching(str(self._config)), *([self.pid] if self.pid else [])}
        return [pid for pid in found if pid_alive(pid) and str(self._config) in cmdline(pid)]

    def restart(self, timeout: float = 60.0) -> None:
        """Stop, then start on the same ports with the same data."""
        self.stop()
        self.start(timeout)

    @property
    def _out(self) -> Path:
        return self.root / "logs" / "kafka.out"

    def _choose_ports(self) -> None:
        """Keep the ports on record (or from the last server.properties) unless they got taken.

        A cluster member cannot move: its peers know its controller port, so it waits longer
        for a port a killed JVM still holds and fails rather than pick another one.
        """
        if not self.port and self._config.is_file():
            for line in self._config.read_text().splitlines():
                if line.startswith("listeners="):
                    ports = [int(url.rsplit(":", 1)[1]) for url in line[10:].split(",")]
                    self.port, self.controller_port = ports[0], ports[1]
        for attr in ("port", "controller_port"):
            port = getattr(self, attr)
            deadline = time.monotonic() + (30.0 if self.voters else 5.0)
            while port and not port_is_free(port, HOST) and time.monotonic() < deadline:
                time.sleep(0.2)
            if port and not port_is_free(port, HOST):
                if self.voters:
                    raise StackError(f"kafka node {self.node_id}: {attr} {port} is taken")
                log.warning("kafka %s %s is taken; picking a new one", attr, port)
                port = 0
            setattr(self, attr, port or free_port(HOST))

    def _write_config(self) -> None:
        (self.root / "logs").mkdir(parents=True, exist_ok=True)
        size = max(1, len(self.voters))
        quorum = [f"{HOST}:{v.controller_port}" for v in self.voters] or [
            f"{HOST}:{self.controller_port}"]
        listener = "CLIENT" if self.security else "PLAINTEXT"
        rf, isr = str(min(3, size)), str(min(2, size))
        props = {
            "node.id": str(self.node_id),
            "process.roles": "broker,controller",
            "controller.quorum.bootstrap.servers": ",".join(quorum),
            "listeners": f"{listener}://{HOST}:{self.port},CONTROLLER://{HOST}:{self.controller_port}",
            "advertised.listeners": f"{listener}://{HOST}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.root / "data"),
            "auto.create.topics.enable": "false",
            "num.partitions": "1",
            "default.replication.factor": rf,
            "unclean.leader.election.enable": "false",
            "offsets.topic.replication.factor": rf,
            "transaction.state.log.replication.factor": rf,
            "transaction.state.log.min.isr": isr,
            "share.coordinator.state.topic.replication.factor": rf,
            "share.coordinator.state.topic.min.isr": isr,
            "group.initial.rebalance.delay.ms": "0",
            # after a SIGKILL the old registration blocks restart until its session expires (9 s)
            "broker.heartbeat.interval.ms": "1000",
            "broker.session.timeout.ms": "4000",
            "num.network.threads": "2",
            "num.io.threads": "4",
            "num.recovery.threads.per.data.dir": "1",
            **(self.security.server_props() if self.security else {}),
        }
        if self.security:  # the file holds the broker's and the controllers' logins
            self._config.touch(mode=0o600)
            self._config.chmod(0o600)
        self._config.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        log4j2 = LOG4J2_TEMPLATE.read_text().replace(
            "LOG_FILE", escape(str(self.log_file), {'"': "&quot;"})
        )
        (self.root / "log4j2.xml").write_text(log4j2)

    def _java_cmd(self, libs: Path, main: str, *args: str) -> list[str]:
        log4j = f"-Dlog4j2.configurationFile={self.root / 'log4j2.xml'}"
        return ["java", "-cp", f"{libs}/*", *JVM_OPTS, log4j, main, *args]

    def _java(self, libs: Path, main: str, *args: str) -> None:
        cmd = self._java_cmd(libs, main, *args)
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=self.root)
        if proc.returncode != 0:
            detail = (proc.stdout + proc.stderr).strip()[-2000:]
            raise StackError(f"{main} {args[0]} failed (exit {proc.returncode}):\n{detail}")

    def wait_ready(self, timeout: float) -> None:
        """Wait until this node answers a metadata request (stopping it on failure)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not pid_alive(self.pid):
                self.pid = None
                raise StackError(
                    f"Kafka exited during startup (log: {self.log_file})\n{self._tails()}"
                )
            if self.answers(3000):
                return
            time.sleep(0.3)
        self.stop(timeout=5)
        raise StackError(
            f"Kafka did not answer within {timeout:.0f}s (log: {self.log_file})\n{self._tails()}"
        )

    def answers(self, timeout_ms: int = 3000) -> bool:
        return common.port_open(self.port, HOST) and common.run_sync(
            lambda: metadata_ok(self.bootstrap_servers, timeout_ms, self.security))

    def _tails(self) -> str:
        return "\n".join(t for t in (tail(self._out, 15), tail(self.log_file, 25)) if t)
