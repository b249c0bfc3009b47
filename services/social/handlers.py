"""Registration: a household intake becomes registration, assessment, flags and referrals."""

from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert

from contracts.codec import Event
from contracts.events.intake import HouseholdIntake
from contracts.events.social import (
    Child,
    EducationReferred,
    GrantEligible,
    HouseholdRegistered,
    HousingAssessed,
    HousingFlagged,
    HousingNeed,
)
from services.runtime.unit_of_work import UnitOfWork
from services.social.empowerment import (
    MAX_CHILDREN_PER_REFERRAL,
    grant_eligible,
    school_age_children,
)
from services.social.graduation import NeedStatus
from services.social.prefetch import ABSENT, known_refs, take_household, take_referred
from services.social.pseudonym import Keys, Kind, resolve_ref
from services.social.rules import floor_area_per_person, housing_needs
from services.social.tables import household_needs, households, referred_children

# Built once: a statement built per call costs more Python time than its round trip.
_upsert = insert(households)
_UPSERT_HOUSEHOLD = _upsert.on_conflict_do_update(
    index_elements=[households.c.household_ref],
    set_={
        **{c: _upsert.excluded[c] for c in ("region_code", "village", "member_count",
                                            "monthly_income", "assessed_on", "flagged_needs")},
        # Eligibility is noted once: a later assessment keeps the first date.
        "grant_eligible_on": func.coalesce(households.c.grant_eligible_on,
                                           _upsert.excluded.grant_eligible_on),
    },
)
_INSERT_NEEDS = insert(household_needs).on_conflict_do_nothing()


async def register_household(
    event: Event[HouseholdIntake], uow: UnitOfWork, pseudonym_keys: Keys, poverty_line: int
) -> None:
    """Register (or re-assess) a household: flag the housing needs not flagged before, refer
    the school-age children not referred before, and note grant eligibility once.

    The NIK and KK numbers stop here: only the keyed-hash household and person refs are
    stored or sent.
    """
    intake = event.data
    ref = await resolve_ref(uow.conn, pseudonym_keys, Kind.HOUSEHOLD, intake.kk_number,
                            known_refs(uow))
    members = len(intake.members)
    needs = housing_needs(intake.housing, members)

    existing = take_household(uow, ref)
    if existing is ABSENT:
        existing = (await uow.conn.execute(
            select(households.c.flagged_needs, households.c.grant_eligible_on)
            .where(households.c.household_ref == ref).with_for_update()
        )).first()
    already_flagged = set(existing.flagged_needs) if existing else set()
    new_needs = [n for n in needs if n.value not in already_flagged]

    newly_eligible = ((existing is None or existing.grant_eligible_on is None)
                      and grant_eligible(intake, poverty_line))
    await uow.conn.execute(_UPSERT_HOUSEHOLD, dict(
        household_ref=ref, registered_on=intake.assessed_on, region_code=intake.region_code,
        village=intake.village, member_count=members, monthly_income=intake.monthly_income,
        assessed_on=intake.assessed_on,
        flagged_needs=sorted(already_flagged | {n.value for n in new_needs}),
        grant_eligible_on=intake.assessed_on if newly_eligible else None,
    ))

    cause = event.envelope.id
    if existing is None:
        registered = await uow.emit(
            HouseholdRegistered(
                household_ref=ref, region_code=intake.region_code, member_count=members,
                registered_on=intake.assessed_on,
            ),
            subject=ref, correlationid=ref, causationid=cause,
        )
        cause = registered.id
    assessed = await uow.emit(
        HousingAssessed(
            household_ref=ref, region_code=intake.region_code, needs=needs,
            floor_area_per_person_m2=round(floor_area_per_person(intake.housing, members), 2),
            assessed_on=intake.assessed_on,
        ),
        subject=ref, correlationid=ref, causationid=cause,
    )
    if new_needs:
        await _flag(uow, intake, ref, new_needs, assessed.id)
    await _refer_children(uow, intake, ref, pseudonym_keys, cause)
    if newly_eligible:
        await uow.emit(
            GrantEligible(household_ref=ref, region_code=intake.region_code,
                          monthly_income=intake.monthly_income, poverty_line=poverty_line),
            subject=ref, correlationid=ref, causationid=cause,
        )


async def _flag(uow: UnitOfWork, intake: HouseholdIntake, ref: str, needs: list[HousingNeed],
                cause: UUID) -> None:
    await uow.conn.execute(_INSERT_NEEDS, [
        dict(household_ref=ref, need=n.value, status=NeedStatus.FLAGGED) for n in needs])
    await uow.emit(
        HousingFlagged(household_ref=ref, region_code=intake.region_code, village=intake.village,
                       needs=needs),
        subject=ref, correlationid=ref, causationid=cause,
    )


async def _refer_children(uow: UnitOfWork, intake: HouseholdIntake, ref: str, keys: Keys,
                          cause: UUID) -> None:
    """Refer the school-age children Education has not been told about yet."""
    refs = known_refs(uow)
    children = [Child(person_ref=await resolve_ref(uow.conn, keys, Kind.PERSON, m.nik, refs),
                      age=age)
                for m, age in school_age_children(intake)]
    known = take_referred(uow, ref)
    if not children:
        return
    if known is None:
        known = set((await uow.conn.execute(
            select(referred_children.c.person_ref)
            .where(referred_children.c.household_ref == ref)
        )).scalars())
    new = [c for c in children if c.person_ref not in known]
    if not new:
        return
    await uow.conn.execute(referred_children.insert(), [
        dict(household_ref=ref, person_ref=c.person_ref, referred_on=intake.assessed_on)
        for c in new])
    for start in range(0, len(new), MAX_CHILDREN_PER_REFERRAL):
        await uow.emit(
            EducationReferred(household_ref=ref, region_code=intake.region_code,
                              children=new[start:start + MAX_CHILDREN_PER_REFERRAL]),
            subject=ref, correlationid=ref, causationid=cause,
        )
