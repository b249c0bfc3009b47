"""The chaos test's finding, made deterministic: a database restarting is an outage.

While PostgreSQL comes back from a restart it answers "the database system is starting
up" / "is not yet accepting connections" (SQLSTATE 57P03); a fast shutdown ends sessions
with 57P01, a crash with 57P02. asyncpg raises these as server errors, so SQLAlchemy wraps
them as a plain DBAPIError without ``connection_invalidated``. Taken for permanent, the
record being handled goes to the dead-letter topic and its effect is lost.
"""

import asyncpg
import pytest
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_dbapi
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from services.runtime.consumer import is_transient

pytestmark = pytest.mark.unit

DBAPI = AsyncAdapt_asyncpg_dbapi(asyncpg)


def wrapped(error: Exception) -> StatementError:
    """The exception a handler sees, as SQLAlchemy builds it from asyncpg's."""
    return DBAPIError.instance("SELECT 1", {}, DBAPI.Error(str(error), error), DBAPI.Error)


@pytest.mark.parametrize("error", [
    asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
    asyncpg.exceptions.CannotConnectNowError("the database system is not yet accepting "
                                             "connections"),
    asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator "
                                          "command"),
    asyncpg.exceptions.CrashShutdownError("terminating connection because of crash of "
                                          "another server process"),
])
def test_a_database_restarting_is_retried_not_dead_lettered(error: Exception) -> None:
    assert is_transient(wrapped(error))


def test_a_constraint_violation_is_still_a_fault() -> None:
    violation = asyncpg.exceptions.UniqueViolationError("duplicate key value")
    assert not is_transient(wrapped(violation))


@pytest.mark.parametrize("error", [
    asyncpg.exceptions.DiskFullError("could not extend file: No space left on device"),
    asyncpg.exceptions.OutOfMemoryError("out of memory"),
    asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"),
    asyncpg.exceptions.QueryCanceledError("canceling statement due to user request"),
])
def test_a_database_short_of_resources_is_retried_not_dead_lettered(error: Exception) -> None:
    assert is_transient(wrapped(error))


def test_a_pool_with_every_connection_busy_is_retried_not_dead_lettered() -> None:
    assert is_transient(PoolTimeout("QueuePool limit of size 5 overflow 10 reached"))
