from services.intake_api.tables import TABLES
from services.runtime.migrations_env import run_migrations

run_migrations(TABLES.metadata)
