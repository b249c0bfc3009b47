"""The HTTP intake's checks: the contracts' models, reasons and size limit, field by field."""

import json
import random
from datetime import UTC, date, datetime
from uuid import uuid4

import pytest

from contracts.catalogue import EVENTS, TOPICS, Kind
from contracts.codec import MAX_PAYLOAD_BYTES, decode, encode
from contracts.errors import Reason
from services.demo.households import sample_household
from services.intake_api.validation import (
    KEY_FIELDS,
    Accepted,
    FieldError,
    Refusal,
    intake_types,
    validate,
)

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
HOUSEHOLD = sample_household(random.Random(7), date(2026, 3, 1))
CASE = {"subject": "CASE-0042"}


def check(event_type: str, body: bytes, **attributes: str) -> Accepted | Refusal:
    return validate(event_type, body, {**CASE, **attributes}, event_id=uuid4(), now=NOW)


def household_json(**changes: object) -> bytes:
    data = json.loads(HOUSEHOLD.model_dump_json())
    data.update(changes)
    return json.dumps(data).encode()


def refusal(result: Accepted | Refusal) -> tuple[str, list[str]]:
    assert isinstance(result, Refusal), result
    return result.reason.value, [e.field for e in result.errors]


def test_intake_types_are_exactly_those_of_intake_topics_and_each_has_its_key_field() -> None:
    types = intake_types()
    assert set(types) == {t for t, s in EVENTS.items() if TOPICS[s.topic].kind is Kind.INTAKE}
    assert "intake.household.v1" in types and "intake.ticket_update.v1" in types
    for spec in types.values():
        assert KEY_FIELDS[TOPICS[spec.topic].key] in spec.model.model_fields, spec.type


def test_a_household_is_keyed_by_its_kk_number_and_decodes_as_the_kafka_intake_would() -> None:
    accepted = check("intake.household.v1", HOUSEHOLD.model_dump_json().encode())
    assert isinstance(accepted, Accepted)
    assert accepted.key == HOUSEHOLD.kk_number
    assert accepted.topic == "sinergi.intake.social"
    env = accepted.envelope
    assert (env.type, env.subject, env.correlationid, env.time) == (
        "intake.household.v1", "CASE-0042", "CASE-0042", NOW)
    assert env.source == "dinsos-case-system"  # the topic's writer when none is given
    headers, payload = encode(env, accepted.data)
    assert decode(accepted.topic, headers, payload).data == HOUSEHOLD


def test_given_envelope_attributes_are_kept() -> None:
    event_id = uuid4()
    accepted = check("intake.household.v1", HOUSEHOLD.model_dump_json().encode(),
                     id=str(event_id), source="dinsos-kukar", correlationid="CASE-0001",
                     time="2026-03-01T09:30:00+08:00")
    assert isinstance(accepted, Accepted)
    env = accepted.envelope
    assert (env.id, env.source, env.correlationid) == (event_id, "dinsos-kukar", "CASE-0001")
    assert env.time == datetime(2026, 3, 1, 1, 30, tzinfo=UTC)


def test_a_ticket_update_is_keyed_by_ticket_id_and_attendance_by_person_ref() -> None:
    ticket = uuid4()
    update = json.dumps({"ticket_id": str(ticket), "status": "scheduled", "on": "2026-03-01"})
    accepted = check("intake.ticket_update.v1", update.encode())
    assert isinstance(accepted, Accepted) and accepted.key == str(ticket)
    assert accepted.envelope.source == "pupr-field-system"
    person = "p-" + "b" * 32
    report = json.dumps({"person_ref": person, "month": "2026-02", "school_days": 20,
                         "days_present": 20})
    accepted = check("intake.attendance.v1", report.encode())
    assert isinstance(accepted, Accepted) and accepted.key == person


@pytest.mark.parametrize("event_type", [
    "intake.household.v9", "intake.pet.v1", "social.household.registered.v1", "nonsense"])
def test_types_that_are_not_intake_types_are_unknown(event_type: str) -> None:
    assert refusal(check(event_type, HOUSEHOLD.model_dump_json().encode())) == (
        "unknown_type", ["type"])


def test_a_body_of_exactly_the_limit_is_accepted_and_one_byte_more_is_oversize() -> None:
    body = HOUSEHOLD.model_dump_json().encode()
    at_limit = body + b" " * (MAX_PAYLOAD_BYTES - len(body))
    assert isinstance(check("intake.household.v1", at_limit), Accepted)
    assert refusal(check("intake.household.v1", at_limit + b" ")) == ("oversize", ["(root)"])


def test_a_fifteen_digit_nik_is_a_schema_violation_naming_the_member() -> None:
    members = json.loads(HOUSEHOLD.model_dump_json())["members"]
    members[0]["nik"] = members[0]["nik"][:15]
    assert refusal(check("intake.household.v1", household_json(members=members))) == (
        "schema_violation", ["members.0.nik"])


@pytest.mark.parametrize("code", ["6499", "6301", "64011"])
def test_a_region_code_outside_east_kalimantan_is_a_schema_violation(code: str) -> None:
    assert refusal(check("intake.household.v1", household_json(region_code=code))) == (
        "schema_violation", ["region_code"])


def test_unknown_and_missing_fields_are_each_named() -> None:
    data = json.loads(household_json(nickname="Pak Budi"))
    del data["village"]
    reason, fields = refusal(check("intake.household.v1", json.dumps(data).encode()))
    assert reason == "schema_violation" and sorted(fields) == ["nickname", "village"]


@pytest.mark.parametrize("body", [b"{not json", b"", b"  ", b'{"kk_number": "1"'])
def test_a_body_that_is_not_json_is_malformed(body: bytes) -> None:
    assert refusal(check("intake.household.v1", body))[0] == Reason.MALFORMED_JSON.value


def test_a_record_without_subject_is_refused_naming_the_subject() -> None:
    result = validate("intake.household.v1", HOUSEHOLD.model_dump_json().encode(), {},
                      event_id=uuid4(), now=NOW)
    assert isinstance(result, Refusal) and result.reason is Reason.INVALID_ENVELOPE
    [error] = result.errors
    assert error.field == "subject" and "ce-subject" in error.message


@pytest.mark.parametrize(("attribute", "value"), [
    ("id", "not-a-uuid"), ("time", "2026-03-01T09:30:00"), ("correlationid", "x" * 201),
    # CloudEvents forbids control characters; PostgreSQL's jsonb refuses NUL (was a 500)
    ("correlationid", "CASE\x00-0042"), ("source", "dinsos\ncase-system"),
    ("correlationid", "a\x9fb")])
def test_a_malformed_envelope_attribute_is_named(attribute: str, value: str) -> None:
    result = check("intake.household.v1", HOUSEHOLD.model_dump_json().encode(),
                   **{attribute: value})
    assert refusal(result) == ("invalid_envelope", [attribute])


def test_field_errors_carry_the_models_message() -> None:
    result = check("intake.household.v1", household_json(monthly_income=-1))
    assert isinstance(result, Refusal)
    [error] = result.errors
    assert error == FieldError("monthly_income", "Input should be greater than or equal to 0")
