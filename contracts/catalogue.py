"""The topic catalogue and the event types each topic carries.

Topics are created from this catalogue (never by broker auto-creation). The key of every
agency topic is the household ref, so one household's events stay in order.
"""

import builtins
from dataclasses import dataclass
from enum import StrEnum

from contracts.base import Contract
from contracts.events import education as edu
from contracts.events import intake, social
from contracts.events import public_works as pw

DAY_MS = 24 * 60 * 60 * 1000


class Kind(StrEnum):
    INTAKE = "intake"
    """Records from an agency's own systems, read by that agency's service only."""
    AGENCY = "agency"
    """Events a Sinergi service publishes for the other agencies."""
    DEAD_LETTER = "dead_letter"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    description: str
    kind: Kind
    key: str
    writers: tuple[str, ...]
    readers: tuple[str, ...]
    partitions: int = 6
    retention_ms: int = -1
    identity_numbers: bool = False
    """Carries NIK/KK numbers: readable by the social service alone."""


@dataclass(frozen=True)
class EventSpec:
    type: str
    model: builtins.type[Contract]
    topic: str


def _intake(name: str, description: str, key: str, reader: str, writer: str,
            identity: bool = False) -> TopicSpec:
    return TopicSpec(name, description, Kind.INTAKE, key, (writer,), (reader,),
                     retention_ms=7 * DAY_MS, identity_numbers=identity)


SOCIAL_INTAKE = _intake("sinergi.intake.social", "Dinsos case system: households, income, "
                        "grants, mentoring, acknowledgements", "KK number", "social",
                        "dinsos-case-system", identity=True)
PUBLIC_WORKS_INTAKE = _intake("sinergi.intake.public_works", "Public Works field system: "
                              "ticket status updates", "ticket id", "public_works",
                              "pupr-field-system")
EDUCATION_INTAKE = _intake("sinergi.intake.education", "School systems: monthly attendance",
                           "person ref", "education", "school-systems")
SOCIAL_HOUSEHOLD = TopicSpec(
    "sinergi.social.household", "Registration, assessment, empowerment, income, follow-ups, "
    "graduation", Kind.AGENCY, "household ref", ("social",), ("timeline",))
SOCIAL_HOUSING = TopicSpec(
    "sinergi.social.housing", "Housing flags: location and needs for Public Works",
    Kind.AGENCY, "household ref", ("social",), ("public_works", "timeline"))
SOCIAL_EDUCATION = TopicSpec(
    "sinergi.social.education", "Education referrals: school-age children for PKH",
    Kind.AGENCY, "household ref", ("social",), ("education", "timeline"))
PUBLIC_WORKS_TICKET = TopicSpec(
    "sinergi.public_works.ticket", "Works tickets and their lifecycle", Kind.AGENCY,
    "household ref", ("public_works",), ("social", "timeline"))
EDUCATION_PUPIL = TopicSpec(
    "sinergi.education.pupil", "Enrolment, attendance alerts, dropout risk, re-engagement",
    Kind.AGENCY, "household ref", ("education",), ("social", "timeline"))
DEAD_LETTER = TopicSpec(
    "sinergi.deadletter", "Refused records of non-identity topics; reason and origin in "
    "dlq_* headers", Kind.DEAD_LETTER, "original key", ("*",), ("operators",),
    partitions=3, retention_ms=30 * DAY_MS)
INTAKE_DEAD_LETTER = TopicSpec(
    "sinergi.intake.deadletter", "Refused Dinsos intake records, and any refused record that "
    "declares an identity type; they may hold identity numbers, so Dinsos alone reads them",
    Kind.DEAD_LETTER, "original key", ("*",),
    ("social",), partitions=3, retention_ms=30 * DAY_MS, identity_numbers=True)

TOPICS: dict[str, TopicSpec] = {
    t.name: t
    for t in (
        SOCIAL_INTAKE, PUBLIC_WORKS_INTAKE, EDUCATION_INTAKE, SOCIAL_HOUSEHOLD, SOCIAL_HOUSING,
        SOCIAL_EDUCATION, PUBLIC_WORKS_TICKET, EDUCATION_PUPIL, DEAD_LETTER, INTAKE_DEAD_LETTER,
    )
}

_EVENTS = (
    ("intake.household.v1", intake.HouseholdIntake, SOCIAL_INTAKE),
    ("intake.income.v1", intake.IncomeReport, SOCIAL_INTAKE),
    ("intake.grant.v1", intake.GrantAward, SOCIAL_INTAKE),
    ("intake.mentoring.v1", intake.MentoringVisit, SOCIAL_INTAKE),
    ("intake.rejection_ack.v1", intake.RejectionAcknowledgement, SOCIAL_INTAKE),
    ("intake.ticket_update.v1", pw.TicketFieldUpdate, PUBLIC_WORKS_INTAKE),
    ("intake.attendance.v1", edu.AttendanceReport, EDUCATION_INTAKE),
    ("social.household.registered.v1", social.HouseholdRegistered, SOCIAL_HOUSEHOLD),
    ("social.housing.assessed.v1", social.HousingAssessed, SOCIAL_HOUSEHOLD),
    ("social.housing.resolved.v1", social.HousingNeedResolved, SOCIAL_HOUSEHOLD),
    ("social.grant.eligible.v1", social.GrantEligible, SOCIAL_HOUSEHOLD),
    ("social.grant.awarded.v1", social.GrantAwarded, SOCIAL_HOUSEHOLD),
    ("social.mentoring.visited.v1", social.MentoringVisited, SOCIAL_HOUSEHOLD),
    ("social.income.reported.v1", social.IncomeReported, SOCIAL_HOUSEHOLD),
    ("social.case.follow_up_opened.v1", social.FollowUpOpened, SOCIAL_HOUSEHOLD),
    ("social.household.graduated.v1", social.HouseholdGraduated, SOCIAL_HOUSEHOLD),
    ("social.housing.flagged.v1", social.HousingFlagged, SOCIAL_HOUSING),
    ("social.education.referred.v1", social.EducationReferred, SOCIAL_EDUCATION),
    ("public_works.ticket.opened.v1", pw.WorksTicketOpened, PUBLIC_WORKS_TICKET),
    ("public_works.ticket.scheduled.v1", pw.WorksTicketScheduled, PUBLIC_WORKS_TICKET),
    ("public_works.ticket.started.v1", pw.WorksTicketStarted, PUBLIC_WORKS_TICKET),
    ("public_works.ticket.completed.v1", pw.WorksTicketCompleted, PUBLIC_WORKS_TICKET),
    ("public_works.ticket.rejected.v1", pw.WorksTicketRejected, PUBLIC_WORKS_TICKET),
    ("education.pupil.enrolled.v1", edu.PupilEnrolled, EDUCATION_PUPIL),
    ("education.attendance.alert.v1", edu.AttendanceAlert, EDUCATION_PUPIL),
    ("education.dropout.risk.v1", edu.DropoutRisk, EDUCATION_PUPIL),
    ("education.pupil.reengaged.v1", edu.PupilReengaged, EDUCATION_PUPIL),
)
EVENTS: dict[str, EventSpec] = {t: EventSpec(t, m, topic.name) for t, m, topic in _EVENTS}
DEAD_LETTER_TOPICS = (DEAD_LETTER.name, INTAKE_DEAD_LETTER.name)


_BY_MODEL: dict[type[Contract], EventSpec] = {spec.model: spec for spec in EVENTS.values()}


def spec_for(model: type[Contract]) -> EventSpec:
    """The event type under which a data model is published."""
    try:
        return _BY_MODEL[model]
    except KeyError:
        raise KeyError(f"{model.__name__} is not in the event catalogue") from None


def shared_topics() -> list[TopicSpec]:
    """Topics that others than the social service read: never an identity number on them."""
    return [t for t in TOPICS.values() if not t.identity_numbers]


def agency_topics() -> list[TopicSpec]:
    """Topics carrying the agencies' events, the ones the timeline projects."""
    return [t for t in TOPICS.values() if t.kind is Kind.AGENCY]


def dead_letter_topic(source_topic: str, event_type: str | None = None) -> str:
    """Where a refused record of ``source_topic`` goes; identity-bearing ones stay in Dinsos.

    A record whose declared type belongs on an identity topic (say a household intake sent
    to the Public Works intake by mistake) may carry NIK/KK numbers too: it stays in Dinsos.
    """
    spec = TOPICS.get(source_topic)
    home = EVENTS.get(event_type or "")
    identity = (spec is None or spec.identity_numbers
                or (home is not None and TOPICS[home.topic].identity_numbers))
    return INTAKE_DEAD_LETTER.name if identity else DEAD_LETTER.name
