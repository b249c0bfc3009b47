"""bench.hops reports each hop's percentiles and which hop the slowest households spent."""

import pytest

from bench.hops import HOPS, SEGMENTS, report, segment_percentiles

pytestmark = pytest.mark.unit


def household(total: float, to_timeline: float) -> dict[str, float]:
    return {**dict.fromkeys(HOPS, 1.0), "to_timeline": to_timeline, "total": total}


def test_the_slowest_households_show_the_hop_that_held_them() -> None:
    rows = [household(40.0, 5.0) for _ in range(99)] + [household(1500.0, 1400.0)]
    lines = report(rows).splitlines()
    assert lines[0].startswith("100 households")
    timeline = next(line for line in lines if line.strip().startswith("to_timeline"))
    assert timeline.split()[1:] == ["5", "5", "5", "1400"]  # p50 p90 p99, slowest 1 %


def test_an_empty_window_says_so() -> None:
    assert report([]).startswith("no household")


def test_each_part_of_the_latency_gets_its_own_percentiles() -> None:
    rows = [{part: float(n) for part in SEGMENTS} | {"to_dinsos": float(n * 10)}
            for n in range(1, 101)]
    parts = segment_percentiles(rows)
    assert list(parts) == list(SEGMENTS)
    assert parts["to_dinsos"] == {"p50": 500.0, "p90": 900.0, "p99": 990.0}
    assert parts["to_timeline"] == {"p50": 50.0, "p90": 90.0, "p99": 99.0}


def test_no_ticketed_household_gives_no_parts() -> None:
    assert segment_percentiles([]) == {}
