"""The bench's CPU split: a part's time includes its live children; the machine's, all."""

import os
import subprocess
import sys
import time

import pytest
from rich.console import Console

from bench.cpu import CpuSplit, own_seconds, per_unit_us, runqueue_seconds
from bench.report import busy_text, cores_bound, cpu_table, ratios

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


def test_a_process_own_seconds_leave_out_its_childrens() -> None:
    before = own_seconds(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", BURN.format(seconds=0.3)])
    try:
        burn(0.1)
        assert child.wait(timeout=60) == 0  # reaped: its time is now in our cutime
    finally:
        child.kill()
    after = own_seconds(os.getpid())
    assert before is not None and after is not None
    assert 0.08 <= after - before < 0.3  # our 0.1, none of the child's 0.3
    assert own_seconds(2**22 + 7) is None


def test_threads_waiting_for_a_core_are_counted_only_while_others_hold_every_core() -> None:
    cores = os.cpu_count() or 1
    before = runqueue_seconds(os.getpid())
    burn(0.05)
    alone = runqueue_seconds(os.getpid())
    hogs = [subprocess.Popen([sys.executable, "-c", BURN.format(seconds=10)])
            for _ in range(3 * cores)]
    try:
        burn(0.3)  # sharing each core with three others: ready to run about thrice as long
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    crowded = runqueue_seconds(os.getpid())
    assert before is not None and alone is not None and crowded is not None
    # More than the 0.3 s it ran: waiting, not running, is what is counted.
    assert crowded - alone > 0.35 > alone - before
    assert runqueue_seconds(2**22 + 7) is None


def test_a_service_alone_is_shown_busy_in_all_and_in_its_consumers_process_apart() -> None:
    assert busy_text({"cpu_share": 0.98, "cpu_share_consumers": 0.74,
                      "waiting_share_consumers": 0.27}) == (
        ", 98% of a core busy, 74% in its consumers' process; ready but waiting for a core "
        "27% of the time")
    assert busy_text({"cpu_share": 0.86, "cpu_share_consumers": 0.86}) == (
        ", 86% of a core busy")  # no relay process: nothing apart to show
    assert busy_text({"cpu_share": 0.86}) == ", 86% of a core busy"  # an older result
    assert busy_text({"cpu_share": None}) == ""


def test_per_unit_is_microseconds_per_unit_and_unknown_stays_unknown() -> None:
    assert per_unit_us({"a": 0.5, "b": None}, 1000) == {"a": 500.0, "b": None}
    assert per_unit_us({"a": 0.5}, 0) == {"a": None}


def test_every_core_busy_at_a_records_cost_bounds_the_rate() -> None:
    assert cores_bound(400.0, 2) == 5_000.0
    assert cores_bound(None, 2) is None
    assert cores_bound(400.0, None) is None


def test_the_cpu_table_shows_a_services_bound_beside_the_bare_loop() -> None:
    run = {"households": 10, "baselines": {"bare_loop": {"per_second": 20_000.0}},
           "alone": {"social": {"cpu_us_per_record": {"social": 200.0, "machine": 400.0},
                                "machine_busy_cores": 1.5}},
           "pipeline": {"cpu_us_per_household": {"machine": 1_600.0}}}
    console = Console(width=250, record=True)
    console.print(cpu_table(run, cores=2))
    lines = console.export_text().splitlines()
    assert any("2 cores at this cost" in line for line in lines)
    [social] = [line for line in lines if "social alone" in line]
    assert social.rstrip(" │").endswith("5,000 msg/s (0.25)")
    [pipeline] = [line for line in lines if "pipeline" in line]
    assert "msg/s" not in pipeline


def test_the_baselines_cost_and_bound_are_shown_beside_the_services() -> None:
    run = {"households": 10,
           "baselines": {"bare_loop": {"per_second": 20_000.0,
                                       "cpu_us_per_record": {"rest": 60.0, "machine": 100.0},
                                       "machine_busy_cores": 1.2},
                         "outbox_fan_out": {"per_second": 4_000.0,
                                            "cpu_us_per_record": {"postgresql": 150.0,
                                                                  "machine": 500.0}}},
           "alone": {"social": {"per_second": 2_000.0,
                                "cpu_us_per_record": {"machine": 800.0}}}}
    console = Console(width=250, record=True)
    console.print(cpu_table(run, cores=2))
    lines = console.export_text().splitlines()
    [loop] = [line for line in lines if "bare loop, per record" in line]
    assert loop.rstrip(" │").endswith("20,000 msg/s (1.00)")
    [floor] = [line for line in lines if "inbox and outbox, per record" in line]
    assert "150" in floor and floor.rstrip(" │").endswith("4,000 msg/s (0.20)")
    assert ratios(run)["outbox_fan_out"] == 0.2
    assert ratios(run)["social_alone_vs_outbox_fan_out"] == 0.5
