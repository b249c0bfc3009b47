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
