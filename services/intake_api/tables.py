"""The intake API's tables, in schema ``intake_api``: only the runtime's outbox and inbox.

Its outbox rows hold intake records as posted, NIK and KK numbers included, until the relay
has put them on the (equally identity-bearing) intake topic.
"""

from services.runtime.tables import ServiceTables

TABLES = ServiceTables("intake_api")
