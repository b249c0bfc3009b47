from services.runtime.migrations_env import run_migrations
from services.social.tables import TABLES

run_migrations(TABLES.metadata)
