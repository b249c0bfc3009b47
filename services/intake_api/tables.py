"""The intake API's tables, in schema ``intake_api``: only the runtime's outbox and inbox.

Its outbox rows hold intake records as posted, NIK and KK numbers included, until the relay
has put them on the (equally identity-bearing) intake topic; the relay deletes them
SINERGI_SENT_OUTBOX_KEEP_HOURS after that.
"""

from services.runtime.tables import ServiceTables

TABLES = ServiceTables("intake_api")
