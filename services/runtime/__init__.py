"""The runtime every service shares: settings, logging, database, outbox, inbox, broker."""
