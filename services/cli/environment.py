"""Where the CLI finds Kafka and PostgreSQL: the environment first, then the local stack."""

import os
from collections.abc import Mapping

from pydantic import ValidationError

from services.cli.errors import UserError
from services.runtime.settings import Settings, describe
from services.stack import StackError, stack_env


def cli_settings(servers: Mapping[str, str] | None = None) -> Settings:
    """Settings from the environment; Kafka and PostgreSQL from ``servers`` if given (a
    stack's ``env()``), else the environment's, else the local stack's."""
    names = ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL")
    env = dict(servers) if servers else {n: os.environ[n] for n in names if os.environ.get(n)}
    if len(env) < len(names):
        try:
            env = {**stack_env(), **env}
        except StackError as exc:
            raise UserError(
                f"{exc} (or set KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL)"
            ) from None
    try:
        return Settings(KAFKA_BOOTSTRAP_SERVERS=env["KAFKA_BOOTSTRAP_SERVERS"],
                        DATABASE_URL=env["DATABASE_URL"])
    except ValidationError as exc:  # another SINERGI_*/KAFKA_* variable is wrong
        raise UserError(describe(exc)) from None
