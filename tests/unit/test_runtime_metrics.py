"""Metric labels stay bounded, and the processor's observations reach the exposition."""

import pytest
from aiokafka import TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from services.runtime.consumer import Outcome, declared_type
from services.runtime.deadletter import Record
from services.runtime.metrics import ServiceMetrics

pytestmark = pytest.mark.unit


def record(*headers: tuple[str, bytes | None]) -> Record:
    return Record("sinergi.intake.social", 0, 7, b"k", b"{}", headers)


@pytest.mark.parametrize(("headers", "label"), [
    ((("ce_type", b"intake.household.v1"),), "intake.household.v1"),
    ((("ce_type", b"intake.household.v9"),), "unknown"),
    ((("ce_type", b"anything.an.attacker.likes.v1"),), "unknown"),
    ((("ce_type", b"\xff\xfe"),), "unknown"),
    ((("ce_type", None),), "unknown"),
    ((), "unknown"),
])
def test_only_catalogue_types_become_labels(headers: tuple, label: str) -> None:
    assert declared_type(record(*headers)) == label


def samples(metrics: ServiceMetrics) -> dict[tuple[str, tuple], float]:
    text = metrics.exposition().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


def test_observations_are_counted_per_consumer_type_and_outcome() -> None:
    metrics = ServiceMetrics("social")
    for outcome in (Outcome.PROCESSED, Outcome.PROCESSED, Outcome.DUPLICATE):
        metrics.handled("social.intake", "intake.household.v1", outcome, 0.02)
    metrics.retrying("social.intake", "intake.household.v1")
    metrics.dead_lettered("social.intake", "schema_violation")
    found = samples(metrics)
    labels = (("consumer", "social.intake"), ("event_type", "intake.household.v1"))
    assert found[("sinergi_messages_handled_total", (*labels, ("outcome", "processed")))] == 2
    assert found[("sinergi_messages_handled_total", (*labels, ("outcome", "duplicate")))] == 1
    assert found[("sinergi_transient_failures_total", labels)] == 1
    assert found[("sinergi_dead_letters_total",
                  (("consumer", "social.intake"), ("reason", "schema_violation")))] == 1
    assert found[("sinergi_handler_latency_seconds_count", labels)] == 3
    assert found[("sinergi_handler_latency_seconds_bucket", (*labels, ("le", "0.025")))] == 3
    assert found[("sinergi_handler_latency_seconds_bucket", (*labels, ("le", "0.01")))] == 0


async def test_lag_is_highwater_minus_the_last_finished_position_of_assigned_partitions() -> None:
    class Consumer:
        def assignment(self) -> set[TopicPartition]:
            return {TopicPartition("t", 0), TopicPartition("t", 1)}

        def highwater(self, tp: TopicPartition) -> int | None:
            return {0: 10, 1: None}[tp.partition]  # nothing fetched from partition 1 yet

    async def backlog() -> int:
        return 4

    metrics = ServiceMetrics("social")
    metrics.finished("g", TopicPartition("t", 0), 7)
    metrics.finished("g", TopicPartition("t", 5), 1)  # no longer assigned: not reported
    await metrics.refresh({"g": Consumer()}, backlog)  # type: ignore[dict-item]
    lags = {k: v for k, v in samples(metrics).items() if k[0] == "sinergi_consumer_lag"}
    assert lags == {("sinergi_consumer_lag",
                     (("consumer", "g"), ("partition", "0"), ("topic", "t"))): 3}
    assert samples(metrics)[("sinergi_outbox_backlog", ())] == 4


def test_a_batch_counts_each_record_once_and_observes_each_records_latency() -> None:
    metrics = ServiceMetrics("public_works")
    consumer, flagged = "public_works.flags", "social.housing.flagged.v1"
    metrics.handled_many(consumer, {(flagged, Outcome.PROCESSED): 3,
                                    (flagged, Outcome.DUPLICATE): 1}, 0.2)
    metrics.handled_many(consumer, {(flagged, Outcome.PROCESSED): 2}, 0.004)
    found = samples(metrics)
    labels = (("consumer", consumer), ("event_type", flagged))
    assert found[("sinergi_messages_handled_total", (*labels, ("outcome", "processed")))] == 5
    assert found[("sinergi_messages_handled_total", (*labels, ("outcome", "duplicate")))] == 1
    assert found[("sinergi_handler_latency_seconds_count", labels)] == 6
    assert found[("sinergi_handler_latency_seconds_bucket", (*labels, ("le", "0.005")))] == 2
    assert found[("sinergi_handler_latency_seconds_bucket", (*labels, ("le", "0.25")))] == 6
    assert found[("sinergi_handler_latency_seconds_sum", labels)] == pytest.approx(0.808)
