"""The visit rules, the consumer's settings and dead-letter headers: no broker, no database."""

import asyncio
from datetime import date
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, MessageSizeTooLargeError
from asyncpg.exceptions._base import DataError as ClientDataError
from health_office.consumer import (
    TOPICS,
    USED_TYPES,
    Config,
    Stopped,
    dead_letter,
    is_transient,
    persistently,
)
from health_office.rules import Reason, visit_for

from contracts.events.education import DropoutRisk
from contracts.events.social import HousingFlagged, HousingNeed
from contracts.export import DLQ_HEADERS

pytestmark = pytest.mark.unit

REF = "h-" + "a" * 32
ON = date(2025, 3, 31)


def flagged(*needs: HousingNeed) -> HousingFlagged:
    return HousingFlagged(household_ref=REF, region_code="6409", village="Long Apari",
                          needs=list(needs))


def test_no_water_and_no_latrine_is_due_in_a_week() -> None:
    visit = visit_for(flagged(HousingNeed.CLEAN_WATER, HousingNeed.SANITATION,
                              HousingNeed.HOUSE_REHABILITATION), ON)
    assert visit is not None
    assert visit.reasons == (Reason.NO_CLEAN_WATER, Reason.NO_HEALTHY_LATRINE)
    assert visit.due_by == date(2025, 4, 7)
    assert (visit.region_code, visit.village) == ("6409", "Long Apari")


@pytest.mark.parametrize("need, reason", [(HousingNeed.CLEAN_WATER, Reason.NO_CLEAN_WATER),
                                          (HousingNeed.SANITATION, Reason.NO_HEALTHY_LATRINE)])
def test_one_missing_is_due_in_two_weeks(need: HousingNeed, reason: Reason) -> None:
    visit = visit_for(flagged(need, HousingNeed.HOUSE_REHABILITATION), ON)
    assert visit is not None
    assert (visit.reasons, visit.due_by) == ((reason,), date(2025, 4, 14))


def test_house_rehabilitation_alone_needs_no_visit() -> None:
    assert visit_for(flagged(HousingNeed.HOUSE_REHABILITATION), ON) is None


def test_dropout_risk_is_due_in_thirty_days_without_a_location() -> None:
    risk = DropoutRisk(household_ref=REF, person_ref="p-" + "b" * 32, month="2025-03",
                       attendance_pct=84.9, months_below=2)
    visit = visit_for(risk, ON)
    assert visit is not None
    assert (visit.reasons, visit.due_by) == ((Reason.CHILD_DROPOUT_RISK,), date(2025, 4, 30))
    assert (visit.region_code, visit.village) == (None, None)


def test_consumer_reads_the_catalogue_topics_of_the_types_it_uses() -> None:
    assert USED_TYPES == {"social.housing.flagged.v1", "education.dropout.risk.v1"}
    assert TOPICS == ["sinergi.education.pupil", "sinergi.social.housing"]


class CapturingProducer:
    def __init__(self, limit: int | None = None) -> None:
        self.sent: list[dict[str, Any]] = []
        self.limit = limit

    async def send_and_wait(self, topic: str, **kwargs: Any) -> None:
        if self.limit is not None and len(kwargs["value"] or b"") > self.limit:
            raise MessageSizeTooLargeError()
        self.sent.append({"topic": topic, **kwargs})


async def test_dead_letter_keeps_the_record_and_adds_the_published_headers() -> None:
    record = ConsumerRecord("sinergi.social.housing", 4, 17, 0, 0, b"h-1", b"{bad", None, 3, 4,
                            [("ce_id", b"e-1"), ("dlq_reason", b"stale")])
    producer = CapturingProducer()
    await dead_letter(producer, record, "health_office.visits",  # type: ignore[arg-type]
                      "malformed_json", "payload is not JSON")
    [sent] = producer.sent
    assert (sent["topic"], sent["key"], sent["value"]) == ("sinergi.deadletter", b"h-1", b"{bad")
    headers = dict(sent["headers"])
    assert len(sent["headers"]) == len(headers)  # the stale dlq_reason is not kept twice
    assert set(headers) == {"ce_id", *DLQ_HEADERS}
    assert (headers["dlq_reason"], headers["dlq_topic"], headers["dlq_partition"],
            headers["dlq_offset"]) == (b"malformed_json", b"sinergi.social.housing", b"4", b"17")


async def test_sasl_settings_make_valid_kafka_clients() -> None:
    plain = Config("broker:9092", "postgresql+asyncpg://u:p@db/x").kafka_options()
    assert "security_protocol" not in plain
    tls = Config("broker:9093", "postgresql://u:p@db/x", sasl_username="health_office",
                 sasl_password="secret").kafka_options()
    local = Config("127.0.0.1:9092", "postgresql://u:p@db/x", sasl_username="health_office",
                   sasl_password="secret", security_protocol="SASL_PLAINTEXT").kafka_options()
    for options in (tls, local):
        AIOKafkaConsumer(group_id="health_office.visits", **options)  # raises on a bad option
        assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert ("ssl_context" in tls, "ssl_context" in local) == (True, False)
    assert Config("b", "postgresql+asyncpg://u:p@db/x").dsn == "postgresql://u:p@db/x"


async def test_a_letter_too_large_with_its_headers_goes_without_its_value_saying_so() -> None:
    record = ConsumerRecord("sinergi.social.housing", 1, 5, 0, 0, b"h-1", b"x" * 100, None, 3,
                            100, [("ce_id", b"e-1")])
    producer = CapturingProducer(limit=50)
    await dead_letter(producer, record, "health_office.visits",  # type: ignore[arg-type]
                      "handler_error", "boom")
    [sent] = producer.sent
    assert sent["value"] is None
    assert dict(sent["headers"])["dlq_value_omitted"] == b"100"
    assert dict(sent["headers"])["dlq_offset"] == b"5"


@pytest.mark.parametrize(("failure", "transient"), [
    (asyncpg.TooManyConnectionsError("too many clients"), True),  # 53300
    (asyncpg.DeadlockDetectedError("deadlock"), True),  # 40P01
    (asyncpg.ConnectionDoesNotExistError("gone"), True),  # 08003
    (asyncpg.UniqueViolationError("duplicate key"), False),  # the record's, for good
    (KafkaConnectionError(), True),
    (KafkaTimeoutError(), True),
    (MessageSizeTooLargeError(), False),
    (ConnectionRefusedError(), True),
    (ValueError("a bug"), False),
    (ClientDataError("invalid input for query argument $1"), False),  # the client's, a bug
])
def test_outages_and_shortages_are_retried_and_the_records_own_faults_are_not(
    failure: Exception, transient: bool
) -> None:
    assert is_transient(failure) is transient


async def test_a_stop_ends_the_wait_for_an_outage_leaving_the_record_unfinished() -> None:
    stop, tried = asyncio.Event(), asyncio.Event()

    async def down() -> None:
        tried.set()
        raise ConnectionRefusedError()

    waiting = asyncio.create_task(persistently(down, "handling an event", stop))
    await tried.wait()
    stop.set()
    with pytest.raises(Stopped):
        await asyncio.wait_for(waiting, 10)  # a hang fails as a timeout, not as a pass


async def test_a_fault_that_is_not_an_outage_is_raised_at_once() -> None:
    attempts = []

    async def refused() -> None:
        attempts.append(1)
        raise asyncpg.UniqueViolationError("duplicate key")

    with pytest.raises(asyncpg.UniqueViolationError):
        await persistently(refused, "handling an event")
    assert attempts == [1]
