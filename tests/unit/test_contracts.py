import json
import os
import re
import time
import uuid
from datetime import UTC, datetime

import pytest

from contracts.catalogue import EVENTS, TOPICS, dead_letter_topic, shared_topics
from contracts.codec import decode, encode
from contracts.envelope import (
    Envelope,
    EnvelopeError,
    EventType,
    check_emitted,
    header_pairs,
    new_envelope,
)
from contracts.errors import ContractViolation, Reason
from contracts.events.social import HousingFlagged, HousingNeed
from contracts.ids import new_event_id

pytestmark = pytest.mark.unit

REF = "h-" + "a" * 32
FLAG = HousingFlagged(household_ref=REF, region_code="6403", village="Loa Janan",
                      needs=[HousingNeed.SANITATION])
TOPIC = "sinergi.social.housing"


def flag_envelope(**changes: object) -> Envelope:
    env = new_envelope(type="social.housing.flagged.v1", source="sinergi/social", subject=REF,
                       correlationid=REF, causationid=new_event_id())
    return env.model_copy(update=changes)


def test_an_event_survives_encoding_and_decoding() -> None:
    env = flag_envelope()
    headers, payload = encode(env, FLAG)
    event = decode(TOPIC, headers, payload)
    assert event.envelope == env
    assert event.data == FLAG


def test_envelope_travels_as_cloudevents_headers() -> None:
    headers = dict(flag_envelope().to_headers())
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_type"] == b"social.housing.flagged.v1"
    assert headers["content-type"] == b"application/json"
    assert {"ce_id", "ce_source", "ce_subject", "ce_time", "ce_correlationid",
            "ce_causationid"} <= set(headers)


def test_event_ids_sort_by_creation_time() -> None:
    ids = [new_event_id() for _ in range(50)]
    assert [i.version for i in ids] == [7] * 50
    assert [i.int >> 80 for i in ids] == sorted(i.int >> 80 for i in ids)


def test_event_ids_of_one_millisecond_still_sort_in_creation_order() -> None:
    ids = [new_event_id() for _ in range(20_000)]  # thousands share a millisecond
    assert len({i.int >> 80 for i in ids}) < len(ids)
    assert ids == sorted(ids) and len(set(ids)) == len(ids)  # strictly increasing
    assert {(i.version, i.variant) for i in ids} == {(7, uuid.RFC_4122)}


def test_an_event_id_after_the_clock_stepped_back_is_still_greater(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = new_event_id()
    monkeypatch.setattr(time, "time_ns", lambda: 0)  # 1970
    after = new_event_id()
    assert after > before and after.version == 7


def violation(headers: list, payload: bytes | None, topic: str = TOPIC) -> ContractViolation:
    with pytest.raises(ContractViolation) as info:
        decode(topic, headers, payload)
    return info.value


def test_unknown_field_is_a_schema_violation_naming_the_field() -> None:
    payload = json.dumps({**json.loads(FLAG.model_dump_json()), "income": 1}).encode()
    err = violation(flag_envelope().to_headers(), payload)
    assert err.reason is Reason.SCHEMA_VIOLATION
    assert "income" in err.detail


def test_region_outside_east_kalimantan_is_refused() -> None:
    payload = FLAG.model_dump_json().replace("6403", "3171").encode()
    err = violation(flag_envelope().to_headers(), payload)
    assert err.reason is Reason.SCHEMA_VIOLATION and "region_code" in err.detail


def test_unknown_but_well_formed_region_code_is_refused() -> None:
    payload = FLAG.model_dump_json().replace("6403", "6499").encode()
    err = violation(flag_envelope().to_headers(), payload)
    assert "6499" in err.detail


def test_malformed_json_is_named_as_such() -> None:
    assert violation(flag_envelope().to_headers(), b'{"household_ref":').reason is (
        Reason.MALFORMED_JSON
    )


def test_missing_envelope_header_is_named() -> None:
    headers = [h for h in flag_envelope().to_headers() if h[0] != "ce_time"]
    err = violation(headers, FLAG.model_dump_json().encode())
    assert err.reason is Reason.INVALID_ENVELOPE and "ce_time" in err.detail


def test_naive_timestamp_is_refused() -> None:
    headers = [(k, v) if k != "ce_time" else (k, b"2026-01-01T10:00:00")
               for k, v in flag_envelope().to_headers()]
    err = violation(headers, FLAG.model_dump_json().encode())
    assert err.reason is Reason.INVALID_ENVELOPE and "time" in err.detail


def test_unknown_event_version_is_refused() -> None:
    headers = [(k, v) if k != "ce_type" else (k, b"social.housing.flagged.v9")
               for k, v in flag_envelope().to_headers()]
    assert violation(headers, FLAG.model_dump_json().encode()).reason is Reason.UNKNOWN_TYPE


def test_event_on_the_wrong_topic_is_refused() -> None:
    headers, payload = encode(flag_envelope(), FLAG)
    assert violation(headers, payload, "sinergi.social.household").reason is Reason.WRONG_TOPIC


def test_oversize_payload_is_refused_before_parsing() -> None:
    assert violation(flag_envelope().to_headers(), b" " * 300_000).reason is Reason.OVERSIZE


def test_header_with_invalid_utf8_is_refused() -> None:
    headers = [(k, v) if k != "ce_subject" else (k, b"\xff\xfe") for k, v in
               flag_envelope().to_headers()]
    err = violation(headers, FLAG.model_dump_json().encode())
    assert err.reason is Reason.INVALID_ENVELOPE and "UTF-8" in err.detail


def test_flag_without_needs_or_with_repeated_needs_is_refused() -> None:
    for needs in ([], ["sanitation", "sanitation"]):
        payload = json.dumps({**json.loads(FLAG.model_dump_json()), "needs": needs}).encode()
        assert violation(flag_envelope().to_headers(), payload).reason is (
            Reason.SCHEMA_VIOLATION
        )


def test_every_event_type_names_a_catalogue_topic_and_is_versioned() -> None:
    for spec in EVENTS.values():
        assert spec.topic in TOPICS
        assert spec.type.rsplit(".", 1)[1].startswith("v")


def test_only_intake_topics_carry_identity_number_fields() -> None:
    for spec in EVENTS.values():
        fields = json.dumps(spec.model.model_json_schema())
        if TOPICS[spec.topic] in shared_topics():
            assert "nik" not in fields and "kk_number" not in fields, spec.type


def test_refused_intake_records_stay_on_a_dinsos_only_topic() -> None:
    assert TOPICS[dead_letter_topic("sinergi.intake.social")].identity_numbers
    assert not TOPICS[dead_letter_topic(TOPIC)].identity_numbers


def test_envelope_time_keeps_its_timezone() -> None:
    env = flag_envelope(time=datetime(2026, 1, 1, 8, tzinfo=UTC))
    assert Envelope.from_headers(env.to_headers()).time.utcoffset() is not None


def test_header_without_a_value_counts_as_missing() -> None:
    headers = [(k, v) if k != "ce_source" else (k, None) for k, v in flag_envelope().to_headers()]
    err = violation(headers, FLAG.model_dump_json().encode())
    assert err.reason is Reason.INVALID_ENVELOPE and "ce_source" in err.detail


def test_a_misrouted_identity_record_is_dead_lettered_inside_dinsos() -> None:
    assert dead_letter_topic("sinergi.intake.public_works", "intake.household.v1") == (
        "sinergi.intake.deadletter")
    assert dead_letter_topic("sinergi.intake.public_works", "intake.ticket_update.v1") == (
        "sinergi.deadletter")


def test_event_ids_stay_unique_across_refills_of_their_random_pool() -> None:
    ids = [new_event_id() for _ in range(3000)]  # the pool holds 256 ids' worth
    assert len(set(ids)) == 3000
    assert {i.version for i in ids} == {7} and {i.variant for i in ids} == {uuid.RFC_4122}


def test_a_forked_child_draws_other_ids_than_its_parent() -> None:
    new_event_id()  # the pool now holds the parent's next ids
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        os.write(write, ",".join(str(new_event_id()) for _ in range(5)).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    random_bits = (0xFFF << 64) | ((1 << 62) - 1)  # ids of another millisecond differ anyway
    with os.fdopen(read) as pipe:
        childs = {uuid.UUID(s).int & random_bits for s in pipe.read().split(",")}
    parents = {new_event_id().int & random_bits for _ in range(5)}
    assert len(childs) == 5 and not childs & parents


def test_headers_built_without_an_envelope_decode_to_the_same_envelope() -> None:
    cause = new_event_id()
    env = new_envelope(type="social.housing.flagged.v1", source="sinergi/social",
                       subject="h-1", correlationid="h-1", causationid=cause)
    pairs = header_pairs(id=env.id, type=env.type, source=env.source, subject=env.subject,
                         correlationid=env.correlationid, time=env.time, causationid=cause)
    assert pairs == env.header_pairs()
    assert Envelope.from_headers([(k, v.encode()) for k, v in pairs]) == env


@pytest.mark.parametrize("subject", ["h", "h" * 200])
def test_an_emitted_subject_of_one_to_200_characters_passes_the_check(subject: str) -> None:
    check_emitted(source="sinergi/social", subject=subject, correlationid=subject,
                  time=datetime.now(UTC))


@pytest.mark.parametrize("field", ["source", "subject", "correlationid"])
@pytest.mark.parametrize("value", ["", "h" * 201])
def test_an_emitted_envelope_its_readers_would_refuse_is_refused_by_name(
        field: str, value: str) -> None:
    fields = dict(source="sinergi/social", subject="h-1", correlationid="h-1") | {field: value}
    with pytest.raises(EnvelopeError, match=f"^{field} must be 1 to 200 characters"):
        check_emitted(**fields, time=datetime.now(UTC))


def test_an_emitted_naive_time_is_refused() -> None:
    with pytest.raises(EnvelopeError, match="timezone-aware"):
        check_emitted(source="sinergi/social", subject="h-1", correlationid="h-1",
                      time=datetime(2026, 11, 29, 8, 0))


@pytest.mark.parametrize("bad", [dict(subject=7), dict(time="2026-11-29T08:00:00+08:00"),
                                 dict(causationid=str(uuid.uuid4()))])
def test_emitted_values_of_the_wrong_type_are_refused_as_envelope_errors(bad: dict) -> None:
    fields = dict(source="sinergi/social", subject="h-1", correlationid="h-1",
                  time=datetime.now(UTC)) | bad
    with pytest.raises(EnvelopeError, match=f"^{next(iter(bad))} must be"):
        check_emitted(**fields)


def test_every_catalogue_type_is_one_an_envelope_accepts() -> None:
    # Emitted headers are built without the Envelope model: its type pattern is checked here.
    pattern = EventType.__metadata__[0].pattern
    assert [t for t in EVENTS if not re.fullmatch(pattern, t)] == []


def test_every_consuming_service_may_write_wherever_its_refusals_are_routed() -> None:
    # A Public Works intake declaring a household type goes to the intake dead-letter
    # topic: refused by the broker, its sending would be retried for ever.
    from contracts.access import ACCESS, SERVICES

    for name in SERVICES:
        access = ACCESS[name]
        for topic in access.reads:
            for event_type in (None, *EVENTS):
                target = dead_letter_topic(topic, event_type)
                assert access.may_write(target), (name, topic, event_type, target)
