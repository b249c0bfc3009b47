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


def test_demo_shows_the_funnel_a_story_and_a_chart_and_leaves_no_process_running(
    tmp_path: Path,
) -> None:
    stack_dir = REPO / ".stack" / "e2e-demo"
    # A stopped stack whose data was kept ('sinergi stack down'): the demo runs beside it.
    kept = stack_dir / "postgres" / "data" / "kept-by-the-operator"
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.write_text("a stopped stack's data")
    env = {k: v for k, v in os.environ.items()
           if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL")}
    env["SINERGI_STACK_DIR"] = str(stack_dir)
    result = subprocess.run(
        [sys.executable, "-c", "from services.cli.main import app; app()", "demo",
         "--households", "30", "--out", str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=600, cwd=REPO,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "Households per stage, per kabupaten/kota" in out
    for name in ("Kutai Kartanegara", "Mahakam Ulu", "East Kalimantan"):
        assert name in out
    assert "social.household.registered.v1" in out  # the story starts at registration...
    assert "social.household.graduated.v1" in out  # ...and ends in graduation
    chart = tmp_path / "funnel.png"
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "no process left running" in out
    assert processes_mentioning(str(stack_dir)) == []
    assert kept.read_text() == "a stopped stack's data"
