"""Which failures go away by themselves (retry in place) and which are for good."""

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

# Connection exceptions (08), serialization failure and deadlock, too many connections, and
# the server shutting down or starting up (57P01-03): asyncpg raises these while PostgreSQL
# restarts, and SQLAlchemy wraps them in a plain DBAPIError that is not marked invalidated.
_TRANSIENT_SQLSTATES = ("08", "40001", "40P01", "53300", "57P01", "57P02", "57P03")


def is_transient(exc: BaseException) -> bool:
    """Failures that go away by themselves: retry, never dead-letter."""
    if isinstance(exc, DBAPIError):
        sqlstate = getattr(exc.orig, "sqlstate", None) or ""
        if exc.connection_invalidated or sqlstate.startswith(_TRANSIENT_SQLSTATES):
            return True
    return isinstance(exc, OperationalError | InterfaceError | OSError | TimeoutError)
