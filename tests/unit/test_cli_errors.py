"""The operator CLI answers a bad setting or a missing stack with one line, never a traceback."""

import pytest
from typer.testing import CliRunner

from services.cli.main import app

pytestmark = pytest.mark.unit

SERVERS = {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1", "DATABASE_URL":
           "postgresql+asyncpg://nobody@127.0.0.1:1/none"}


@pytest.mark.parametrize("command", [["topics"], ["dlq", "show", "3"], ["dlq", "replay", "3"]])
def test_a_bad_setting_is_named_with_its_reason(command: list[str]) -> None:
    result = CliRunner().invoke(app, command, env={**SERVERS, "SINERGI_BATCH_SIZE": "0"})
    assert result.exit_code == 1
    assert "SINERGI_BATCH_SIZE: Input should be greater than or equal to 1" in result.output
    assert "Traceback" not in result.output and result.exception.__class__ is SystemExit


@pytest.mark.parametrize("command", [["dlq", "show", "3"], ["dlq", "replay", "3"]])
def test_a_dead_letter_command_without_a_stack_says_how_to_start_one(
    command: list[str], tmp_path: object
) -> None:
    result = CliRunner().invoke(app, command, env={
        "KAFKA_BOOTSTRAP_SERVERS": "", "DATABASE_URL": "", "SINERGI_STACK_DIR": str(tmp_path)})
    assert result.exit_code == 1
    assert "sinergi stack up" in result.output
    assert result.exception.__class__ is SystemExit


@pytest.mark.parametrize(("event_type", "said"), [
    ("social.houshold.registered.v1", "is not a catalogue event type"),
    ("public_works.ticket.opened.v1", "is carried on sinergi.public_works.ticket, not "
                                      "sinergi.social.household"),
])
def test_tail_refuses_a_type_no_record_of_the_topic_can_have_before_connecting(
    event_type: str, said: str
) -> None:
    result = CliRunner().invoke(app, ["tail", "sinergi.social.household", "--type", event_type],
                                env=SERVERS)
    assert result.exit_code == 1
    assert said in result.output
    assert "cannot reach" not in result.output  # refused before any connection was tried


def test_a_database_command_names_postgresql_and_the_variable_when_it_cannot_connect() -> None:
    for command in (["timeline", "h-" + "a" * 32], ["reports", "funnel"], ["migrate"]):
        result = CliRunner().invoke(app, command, env=SERVERS)
        assert result.exit_code == 1, command
        assert "cannot reach PostgreSQL at 127.0.0.1:1/none" in result.output, command
        assert "DATABASE_URL" in result.output, command


def test_dlq_show_masks_a_kk_number_in_the_headers_of_a_misrouted_record(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from aiokafka import ConsumerRecord

    from services.cli import dlq

    kk = "6402011234567890"  # an intake under a mistyped type: its subject is the KK number
    letter = ConsumerRecord("sinergi.deadletter", 0, 3, 0, 0, kk.encode(), b'{"kk": "x"}', None,
                            16, 11, [("ce_subject", kk.encode()),
                                     ("ce_correlationid", kk.encode()),
                                     ("dlq_reason", b"unknown_type")])

    async def one(*_: object) -> ConsumerRecord:
        return letter

    async def history(*_: object) -> list[object]:
        return []

    monkeypatch.setattr(dlq, "_one", one)
    monkeypatch.setattr(dlq, "_history", history)
    result = CliRunner().invoke(app, ["dlq", "show", "3"], env=SERVERS)
    assert result.exit_code == 0, result.output
    assert "ce_subject: [16 digits withheld]" in result.output
    assert kk not in result.output


def test_a_database_command_needs_only_the_database_url(tmp_path: object) -> None:
    env = {"KAFKA_BOOTSTRAP_SERVERS": "", "SINERGI_STACK_DIR": str(tmp_path),
           "DATABASE_URL": SERVERS["DATABASE_URL"]}
    result = CliRunner().invoke(app, ["reports", "funnel"], env=env)
    assert result.exit_code == 1
    assert "cannot reach PostgreSQL at 127.0.0.1:1/none" in result.output  # not "kafka is not up"
    result = CliRunner().invoke(app, ["topics"], env=env)
    assert "kafka is not up" in result.output
