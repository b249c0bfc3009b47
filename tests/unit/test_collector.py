"""A collection that stalls the process is logged; a quick one is not."""

import gc
from collections.abc import Iterator

import pytest
from structlog.testing import capture_logs

from services.runtime.collector import log_slow_collections

pytestmark = pytest.mark.unit


@pytest.fixture
def callbacks_restored() -> Iterator[None]:
    before = list(gc.callbacks)
    yield
    gc.callbacks[:] = before


def test_a_collection_longer_than_the_limit_is_logged_with_its_generation(
    callbacks_restored: None,
) -> None:
    log_slow_collections(longer_than_ms=0.0)
    with capture_logs() as logs:
        gc.collect(1)
    pauses = [entry for entry in logs if entry["event"] == "gc_pause"]
    assert [p["generation"] for p in pauses] == [1]
    assert pauses[0]["ms"] >= 0 and pauses[0]["log_level"] == "warning"


def test_a_collection_within_the_limit_is_not_logged(callbacks_restored: None) -> None:
    log_slow_collections(longer_than_ms=60_000.0)
    with capture_logs() as logs:
        gc.collect()
    assert [entry for entry in logs if entry["event"] == "gc_pause"] == []
