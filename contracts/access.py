"""Who may read and write which topic: the one table a secured broker's ACLs come from.

Each agency's service, each agency system that publishes intake records and the operators
get one Kafka principal (SASL/SCRAM user). What a principal may read or write is derived
from the topic catalogue's readers and writers, so the ACLs cannot drift from the contracts:

- a service reads the topics naming it as reader and writes those naming it as writer,
  plus the dead-letter topic of every topic it reads (it refuses bad records there);
- an agency system writes its intake topic and reads nothing;
- the intake API writes every intake topic and reads nothing: it publishes what agency
  systems without a Kafka client post over HTTP, once it has checked that the poster's
  token may post that type (``services.runtime.auth``);
- operators read the shared dead-letter topic and write the topics whose refused records
  land there (replaying a dead letter publishes it again to its original topic); they may
  also describe every topic and group (consumer lag), which reveals no record;
- ``admin`` is the super user that provisions topics and ACLs; ``outsider`` exists so a
  test can show that a valid login alone grants nothing.

Anything not granted here is denied (``allow.everyone.if.no.acl.found=false``).
"""

from dataclasses import dataclass

from contracts.catalogue import TOPICS, Kind, dead_letter_topic

SERVICES = ("social", "public_works", "education", "timeline")
OPERATORS = "operators"
INTAKE_API = "intake_api"
ADMIN = "admin"
OUTSIDER = "outsider"

AGENCY_OF = {
    "social": "Dinas Sosial",
    "public_works": "Dinas PUPR",
    "education": "Dinas Pendidikan",
    "timeline": "Sinergi timeline",
    "dinsos-case-system": "Dinas Sosial",
    "pupr-field-system": "Dinas PUPR",
    "school-systems": "Dinas Pendidikan",
    OPERATORS: "Sinergi operators",
    INTAKE_API: "Sinergi intake API",
    ADMIN: "Sinergi platform",
    OUTSIDER: "nobody",
}


@dataclass(frozen=True)
class Access:
    principal: str
    """The SASL/SCRAM user name (``User:<principal>`` in Kafka ACLs)."""
    agency: str
    reads: frozenset[str] = frozenset()
    writes: frozenset[str] = frozenset()
    group_prefixes: tuple[str, ...] = ()
    """Consumer groups it may use: every group id starting with one of these."""
    observes_all: bool = False
    """May describe every topic and group (offsets and lag), never read a record."""
    super_user: bool = False

    def may_read(self, topic: str) -> bool:
        return self.super_user or topic in self.reads

    def may_write(self, topic: str) -> bool:
        return self.super_user or topic in self.writes


def _service(name: str) -> Access:
    reads = frozenset(t.name for t in TOPICS.values() if name in t.readers)
    writes = {t.name for t in TOPICS.values() if name in t.writers}
    if reads:  # a record read may be refused to either (dead_letter_topic: by declared type)
        writes |= {t.name for t in TOPICS.values() if t.kind is Kind.DEAD_LETTER}
    return Access(name, AGENCY_OF[name], reads, frozenset(writes), (f"{name}.",))


def _system(name: str) -> Access:
    writes = frozenset(t.name for t in TOPICS.values() if name in t.writers)
    return Access(name, AGENCY_OF[name], writes=writes)


def _operators() -> Access:
    reads = frozenset(t.name for t in TOPICS.values() if OPERATORS in t.readers)
    replayable = frozenset(
        t.name for t in TOPICS.values()
        if t.kind is not Kind.DEAD_LETTER and dead_letter_topic(t.name) in reads
    )
    return Access(OPERATORS, AGENCY_OF[OPERATORS], reads, replayable, (f"{OPERATORS}.",),
                  observes_all=True)


def _intake_api() -> Access:
    writes = frozenset(t.name for t in TOPICS.values() if t.kind is Kind.INTAKE)
    return Access(INTAKE_API, AGENCY_OF[INTAKE_API], writes=writes)


AGENCY_SYSTEMS = tuple(sorted({
    writer for t in TOPICS.values() if t.kind is Kind.INTAKE for writer in t.writers
}))

ACCESS: dict[str, Access] = {
    a.principal: a
    for a in (
        *(_service(name) for name in SERVICES),
        *(_system(name) for name in AGENCY_SYSTEMS),
        _intake_api(),
        _operators(),
        Access(ADMIN, AGENCY_OF[ADMIN], super_user=True),
        Access(OUTSIDER, AGENCY_OF[OUTSIDER]),
    )
}
