"""Which failures go away by themselves (retry in place) and which are for good."""

from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

# Connection exceptions (08), serialization failure and deadlock, insufficient resources
# (53: disk full, out of memory, too many connections), a statement cancelled (57014) and
# the server shutting down or starting up (57P01-03): asyncpg raises these while PostgreSQL
# restarts or is short of something, and SQLAlchemy wraps them in a plain DBAPIError that
# is not marked invalidated. Each is the database's state, not the record's: retried in
# place, the partition waits; dead-lettered, every record would be refused meanwhile.
_TRANSIENT_SQLSTATES = ("08", "40001", "40P01", "53", "57014", "57P01", "57P02", "57P03")


def is_transient(exc: BaseException) -> bool:
    """Failures that go away by themselves: retry, never dead-letter."""
    if isinstance(exc, DBAPIError):
        sqlstate = getattr(exc.orig, "sqlstate", None) or ""
        if exc.connection_invalidated or sqlstate.startswith(_TRANSIENT_SQLSTATES):
            return True
    # PoolTimeout: every pooled connection was busy for the pool's whole wait.
    return isinstance(exc, OperationalError | InterfaceError | DisconnectionError | PoolTimeout
                      | OSError | TimeoutError)
