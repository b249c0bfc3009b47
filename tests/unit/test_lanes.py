"""A batch split into lanes keeps each key's records together and in order."""

import random

import pytest

from services.runtime.lanes import split_by_key

pytestmark = pytest.mark.unit


def records(count: int, keys: int, seed: int = 3) -> list[tuple[int, bytes | None]]:
    rng = random.Random(seed)
    return [(n, f"h-{rng.randrange(keys)}".encode()) for n in range(count)]


def test_each_keys_records_stay_in_one_lane_in_their_order() -> None:
    items = records(1000, 120)
    lanes = split_by_key(items, lambda r: r[1], lanes=2, min_records=200)
    assert len(lanes) == 2
    lane_of = {}
    for number, lane in enumerate(lanes):
        for _, key in lane:
            assert lane_of.setdefault(key, number) == number
        assert [n for n, _ in lane] == sorted(n for n, _ in lane)
    assert sorted(n for lane in lanes for n, _ in lane) == list(range(1000))


def test_a_batch_below_two_lanes_worth_of_records_stays_whole() -> None:
    items = records(399, 120)
    assert split_by_key(items, lambda r: r[1], lanes=2, min_records=200) == [items]


def test_lanes_never_exceed_one_per_min_records() -> None:
    items = records(650, 500)
    assert len(split_by_key(items, lambda r: r[1], lanes=8, min_records=200)) == 3


def test_one_lane_configured_means_one_transaction() -> None:
    items = records(5000, 500)
    assert split_by_key(items, lambda r: r[1], lanes=1) == [items]


def test_records_without_a_key_share_a_lane_in_their_order() -> None:
    items = [(n, None if n % 3 == 0 else f"h-{n}".encode()) for n in range(600)]
    lanes = split_by_key(items, lambda r: r[1], lanes=2, min_records=100)
    keyless = [lane for lane in lanes if any(key is None for _, key in lane)]
    assert len(keyless) == 1
    assert [n for n, key in keyless[0] if key is None] == list(range(0, 600, 3))
