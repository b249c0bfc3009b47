"""The demo as a newcomer runs it: its own stack, three service processes, a clean exit."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


def processes_mentioning(text: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (proc / "stat").read_text().split()[2]
        except OSError:
            continue
        if text in cmdline and state != "Z":  # exited processes not yet reaped don't run
            found.append(f"{proc.name}: {cmdline[:120]}")
    return found


def test_demo_shows_a_flag_becoming_tickets_and_leaves_no_process_running() -> None:
    stack_dir = REPO / ".stack" / "e2e-demo"
    env = {k: v for k, v in os.environ.items()
           if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL")}
    env["SINERGI_STACK_DIR"] = str(stack_dir)
    result = subprocess.run(
        [sys.executable, "-c", "from services.cli.main import app; app()", "demo",
         "--households", "4"],
        env=env, capture_output=True, text=True, timeout=300, cwd=REPO,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    for step in ("social.household.registered.v1", "social.housing.assessed.v1",
                 "social.housing.flagged.v1", "public_works.ticket.opened.v1"):
        assert step in out
    ticket_lines = [line for line in out.splitlines() if "public_works.ticket.opened.v1" in line]
    assert all("social.housing.flagged.v1" in line for line in ticket_lines)  # its cause
    assert "no process left running" in out
    assert processes_mentioning(str(stack_dir)) == []
