"""A single-node Kafka 4.1 (KRaft, broker+controller combined) run from the Maven-resolved jars."""

from __future__ import annotations

import base64
import logging
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from . import common
from .common import StackError, cmdline, free_port, pid_alive, port_is_free, tail
from .maven import ensure_kafka_libs

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


async def metadata_ok(bootstrap_servers: str, timeout_ms: int = 5000) -> bool:
    """True when a broker at ``bootstrap_servers`` answers a metadata request."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=timeout_ms)
    with common.quiet_logger("aiokafka"):  # it logs connection errors while a broker starts
        try:
            await admin.start()
            await admin.list_topics()
            return True
        except Exception:
            return False
        finally:
            await admin.close()


@dataclass
class KafkaNode:
    """One KRaft node; config, data and logs live under ``root``; ports survive restarts."""

    root: Path
    port: int = 0
    controller_port: int = 0
    pid: int | None = None

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
        return bool(self.pid) and pid_alive(self.pid) and str(self._config) in cmdline(self.pid)

    def start(self, timeout: float = 60.0) -> None:
        """Start (formatting storage on first use) and wait until the broker answers metadata."""
        if self.is_running():
            return
        if shutil.which("java") is None:
            raise StackError("'java' (JDK 17+) is not on PATH; the local Kafka broker needs it")
        libs = ensure_kafka_libs()
        self._choose_ports()
        self._write_config()
        if not (self.root / "data" / "meta.properties").is_file():
            cluster_id = random_cluster_id()
            self._java(libs, "kafka.tools.StorageTool", "format", "--standalone", "-t", cluster_id,
                       "-c", str(self._config))  # fmt: skip
        out = self.root / "logs" / "kafka.out"
        with out.open("ab") as sink:
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
        self._wait_ready(timeout, out)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM (controlled shutdown), SIGKILL after ``timeout`` s; strays of this dir too."""
        for pid in {self.pid, *common.pids_matching(str(self._config))} - {None}:
            if pid_alive(pid) and str(self._config) in cmdline(pid):
                if not common.terminate(pid, timeout):
                    log.warning("kafka pid %s ignored SIGTERM for %.0fs; killed", pid, timeout)
        self.pid = None

    def kill(self) -> None:
        """SIGKILL without a controlled shutdown (for chaos tests); data stays for ``start``."""
        if self.pid and self.is_running():
            common.kill(self.pid)
        self.pid = None

    def restart(self, timeout: float = 60.0) -> None:
        """Stop, then start on the same ports with the same data."""
        self.stop()
        self.start(timeout)

    def _choose_ports(self) -> None:
        """Keep the ports on record (or from the last server.properties) unless they got taken."""
        if not self.port and self._config.is_file():
            for line in self._config.read_text().splitlines():
                if line.startswith("listeners="):
                    ports = [int(url.rsplit(":", 1)[1]) for url in line[10:].split(",")]
                    self.port, self.controller_port = ports[0], ports[1]
        for attr in ("port", "controller_port"):
            port = getattr(self, attr)
            deadline = time.monotonic() + 5.0  # a broker that just exited may still hold it
            while port and not port_is_free(port, HOST) and time.monotonic() < deadline:
                time.sleep(0.2)
            if port and not port_is_free(port, HOST):
                log.warning("kafka %s %s is taken; picking a new one", attr, port)
                port = 0
            setattr(self, attr, port or free_port(HOST))

    def _write_config(self) -> None:
        (self.root / "logs").mkdir(parents=True, exist_ok=True)
        props = {
            "node.id": "1",
            "process.roles": "broker,controller",
            "controller.quorum.bootstrap.servers": f"{HOST}:{self.controller_port}",
            "listeners": f"PLAINTEXT://{HOST}:{self.port},CONTROLLER://{HOST}:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{HOST}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.root / "data"),
            "auto.create.topics.enable": "false",
            "num.partitions": "1",
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            # after a SIGKILL the old registration blocks restart until its session expires (9 s)
            "broker.heartbeat.interval.ms": "1000",
            "broker.session.timeout.ms": "4000",
            "num.network.threads": "2",
            "num.io.threads": "4",
            "num.recovery.threads.per.data.dir": "1",
        }
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

    def _wait_ready(self, timeout: float, out: Path) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not pid_alive(self.pid):
                self.pid = None
                raise StackError(
                    f"Kafka exited during startup (log: {self.log_file})\n{self._tails(out)}"
                )
            if common.port_open(self.port, HOST):
                if common.run_sync(lambda: metadata_ok(self.bootstrap_servers, 3000)):
                    return
            time.sleep(0.3)
        self.stop(timeout=5)
        raise StackError(
            f"Kafka did not answer within {timeout:.0f}s (log: {self.log_file})\n{self._tails(out)}"
        )

    def _tails(self, out: Path) -> str:
        return "\n".join(t for t in (tail(out, 15), tail(self.log_file, 25)) if t)
