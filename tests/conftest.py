"""Shared fixtures: the real stack for integration and end-to-end tests.

The stack is the one ``sinergi stack`` manages, in its own folder (``.stack/test``), or
existing servers named by KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL.
"""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.runtime.settings import Settings
from services.stack import Stack

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def stack_settings() -> Iterator[Settings]:
    stack = Stack(Path(os.environ.get("SINERGI_TEST_STACK_DIR", REPO / ".stack" / "test")))
    was_running = {s.name for s in stack.status() if s.state == "running"}
    stack.up()
    env = stack.env()
    try:
        yield Settings(KAFKA_BOOTSTRAP_SERVERS=env["KAFKA_BOOTSTRAP_SERVERS"],
                       DATABASE_URL=env["DATABASE_URL"])
    finally:
        if not was_running:
            stack.down(purge=True)  # the next session starts from empty topics and tables
