"""Where the CLI finds Kafka and PostgreSQL: the environment first, then the local stack."""

import os

from services.cli.errors import UserError
from services.runtime.settings import Settings
from services.stack import StackError, stack_env


def cli_settings() -> Settings:
    names = ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL")
    env = {n: os.environ[n] for n in names if os.environ.get(n)}
    if len(env) < len(names):
        try:
            env = {**stack_env(), **env}
        except StackError as exc:
            raise UserError(
                f"{exc} (or set KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL)"
            ) from None
    return Settings(KAFKA_BOOTSTRAP_SERVERS=env["KAFKA_BOOTSTRAP_SERVERS"],
                    DATABASE_URL=env["DATABASE_URL"])
