"""Empowerment rules at registration: pure functions over an intake record, no I/O."""

from datetime import date

from contracts.events.intake import HouseholdIntake, Member, Relation

SCHOOL_AGE = range(7, 19)
"""PKH's education component covers children aged 7 to 18 (SD to SMA)."""
PRODUCTIVE_AGE = range(18, 65)
"""A productive-age adult, whatever the relation to the head: an adult at 18 (a child is
under 18 in Indonesia's child-protection law, UU 35/2014), of working age to 64 (BPS). BPS's
working age starts at 15, but a 15-year-old is still referred to school, not given a
business."""
MAX_CHILDREN_PER_REFERRAL = 20
"""The most children one ``education.referred`` event may list (contract limit)."""


def age_on(birth_date: date, on: date) -> int:
    """Completed years on ``on``: the age goes up on the birthday itself.

    Someone born on 29 February turns a year older on 1 March in a common year.
    """
    if on < birth_date:
        raise ValueError("not born yet on that date")
    before_birthday = (on.month, on.day) < (birth_date.month, birth_date.day)
    return on.year - birth_date.year - before_birthday


def is_school_age_child(member: Member, on: date) -> bool:
    """A child or other dependant aged 7 to 18; the head and spouse are never referred."""
    dependant = member.relation in (Relation.CHILD, Relation.OTHER)
    return dependant and age_on(member.birth_date, on) in SCHOOL_AGE


def school_age_children(intake: HouseholdIntake) -> list[tuple[Member, int]]:
    """The members to refer to Education, with their age on the assessment date."""
    on = intake.assessed_on
    return [(m, age_on(m.birth_date, on)) for m in intake.members if is_school_age_child(m, on)]


def has_productive_age_member(members: list[Member], on: date) -> bool:
    return any(age_on(m.birth_date, on) in PRODUCTIVE_AGE for m in members)


def grant_eligible(intake: HouseholdIntake, poverty_line: int) -> bool:
    """An adult of productive age to run a business, and income strictly under the line."""
    return (intake.monthly_income < poverty_line
            and has_productive_age_member(intake.members, intake.assessed_on))
