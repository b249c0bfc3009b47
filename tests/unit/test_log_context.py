"""Log lines written while an event is handled carry its ids; others do not."""

import json

import pytest
import structlog

from contracts.envelope import new_envelope
from services.runtime.logging import EventLogContext, configure_logging

pytestmark = pytest.mark.unit


def test_a_line_logged_while_handling_an_event_carries_its_ids_and_the_service(
    capsys: pytest.CaptureFixture[str],
) -> None:
    ref = "h-" + "ab" * 16
    envelope = new_envelope(type="social.housing.flagged.v1", source="sinergi/social",
                            subject=ref, correlationid=ref, causationid=None)
    configure_logging("public_works")
    try:
        log = structlog.get_logger()
        with EventLogContext(envelope):
            log.info("ticket_opened")
        log.info("batch_handled")
    finally:
        structlog.reset_defaults()
    inside, outside = (json.loads(line) for line in capsys.readouterr().err.splitlines())

    assert inside["event_id"] == str(envelope.id)
    assert inside["event_type"] == "social.housing.flagged.v1"
    assert inside["correlation_id"] == ref
    assert inside["service"] == outside["service"] == "public_works"
    assert "event_id" not in outside


def test_a_correlation_id_shaped_like_a_kk_number_is_masked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    kk = "6402011234567890"  # a case system that keys its cases by KK number
    envelope = new_envelope(type="intake.income.v1", source="dinsos-case-system",
                            subject=kk, correlationid=kk, causationid=None)
    configure_logging("social")
    try:
        with EventLogContext(envelope):
            structlog.get_logger().warning("dead_lettered", reason="unknown_household")
    finally:
        structlog.reset_defaults()
    line = capsys.readouterr().err
    assert kk not in line
    assert json.loads(line)["correlation_id"] == "[16 digits withheld]"
