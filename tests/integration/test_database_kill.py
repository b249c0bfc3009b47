"""The chaos monkey's hard database restart: killing PostgreSQL kills every process it
started, so it starts again at once on the same data."""

import os
import signal
from pathlib import Path

import pytest

from services.stack import PostgresNode
from services.stack.common import descendants, pid_alive

pytestmark = pytest.mark.integration


def test_a_killed_database_leaves_no_process_behind_and_starts_again_at_once(
    tmp_path: Path,
) -> None:
    node = PostgresNode(tmp_path / "postgres")
    node.start()
    try:
        assert node.pid is not None
        started = descendants([node.pid])
        assert started, "a running PostgreSQL has its checkpointer, writers and workers"
        # One of them too busy (here: stopped) to notice the postmaster's death and exit on
        # its own, as any of them may be on a loaded machine: it still holds the shared
        # memory, and a new postmaster refuses to start beside it.
        os.kill(started[0], signal.SIGSTOP)
        node.kill()
        assert [pid for pid in started if pid_alive(pid)] == []
        node.start()
        assert node.is_running()
    finally:
        node.stop()
