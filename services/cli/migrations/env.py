from services.cli.dlq import metadata
from services.runtime.migrations_env import run_migrations

run_migrations(metadata)
