"""The bench's CPU split: a part's time includes its live children; the machine's, all."""

import os
import subprocess
import sys
import time

import pytest

from bench.cpu import CpuSplit, per_unit_us

pytestmark = pytest.mark.unit

BURN = "import time\nend = time.process_time() + {seconds}\nwhile time.process_time() < end: pass\n"


def burn(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_a_part_counts_its_own_and_its_live_childrens_cpu_and_the_machine_at_least_both() -> None:
    split = CpuSplit({"me": [os.getpid()], "gone": [2**22 + 7]})
    split.start()
    child = subprocess.Popen([sys.executable, "-c",
                              BURN.format(seconds=0.3) + "time.sleep(60)\n"])
    try:
        burn(0.3)
        deadline = time.monotonic() + 30
        used = split.stop()
        while (used["me"] or 0) < 0.55 and time.monotonic() < deadline:
            time.sleep(0.05)  # until the child has burnt its share too
            used = split.stop()
    finally:
        child.kill()
        child.wait()
    assert used["me"] is not None and used["me"] >= 0.55  # 0.3 here + 0.3 in the child
    assert used["gone"] is None  # no such process: unknown, not zero
    assert used["machine"] is not None and used["machine"] >= used["me"] - 0.05
    assert used["rest"] is not None and used["rest"] >= 0


def test_per_unit_is_microseconds_per_unit_and_unknown_stays_unknown() -> None:
    assert per_unit_us({"a": 0.5, "b": None}, 1000) == {"a": 500.0, "b": None}
    assert per_unit_us({"a": 0.5}, 0) == {"a": None}
