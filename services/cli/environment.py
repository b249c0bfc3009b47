"""Where the CLI finds Kafka and PostgreSQL: the environment first, then the local stack."""

import os
from collections.abc import Mapping

from pydantic import ValidationError

from services.cli.errors import UserError
from services.runtime.settings import Settings, describe
from services.stack import StackError, stack_env

SERVERS = ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL")
DATABASE_ONLY = ("DATABASE_URL",)
"""What a command that reads only PostgreSQL (timeline, reports, replay history) needs."""


def cli_settings(servers: Mapping[str, str] | None = None,
                 need: tuple[str, ...] = SERVERS) -> Settings:
    """Settings from the environment; Kafka and PostgreSQL from ``servers`` if given (a
    stack's ``env()``), else the environment's, else (for any of ``need`` not set) the
    local stack's."""
    env = dict(servers) if servers else {n: os.environ[n] for n in SERVERS if os.environ.get(n)}
    if any(n not in env for n in need):
        try:
            # The stack's values fill in what the environment leaves unset, never more.
            env = {**{k: v for k, v in stack_env().items() if not os.environ.get(k)}, **env}
        except StackError as exc:
            raise UserError(
                f"{exc} (or set {' and '.join(need)})"
            ) from None
    try:
        return Settings.model_validate(env)
    except ValidationError as exc:  # another SINERGI_*/KAFKA_* variable is wrong
        raise UserError(describe(exc)) from None
