"""Keys land on the partition the Java client and aiokafka's default partitioner choose."""

import random

import pytest
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as reference_murmur2

from services.runtime.kafka import KeyHashCache, murmur2

pytestmark = pytest.mark.unit


def test_cached_hashes_pick_the_default_partitioners_partition() -> None:
    rng = random.Random(7)
    cache, default = KeyHashCache(size=50), DefaultPartitioner()
    keys = [rng.randbytes(rng.randint(1, 40)) for _ in range(200)]
    for key in keys * 2:  # the second time from the cache (the first 150 were evicted)
        partitions = list(range(rng.randint(1, 12)))
        assert cache(key, partitions, partitions) == default(key, partitions, partitions)


def test_a_cleared_cache_stays_within_its_size() -> None:
    cache = KeyHashCache(size=10)
    for n in range(25):
        cache(f"h-{n}".encode(), [0, 1, 2], [0, 1, 2])
    assert len(cache._hashes) <= 10


def test_a_record_without_a_key_goes_to_an_available_partition() -> None:
    assert KeyHashCache()(None, [0, 1, 2], [2]) == 2


def test_murmur2_matches_aiokafkas_for_keys_of_every_length() -> None:
    rng = random.Random(11)
    keys = [rng.randbytes(length) for length in range(0, 70) for _ in range(50)]
    assert [murmur2(k) for k in keys] == [reference_murmur2(k) for k in keys]
