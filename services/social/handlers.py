"""Registration: a household intake becomes registration, assessment, flags and referrals."""

from typing import Any
from uuid import UUID

from sqlalchemy import Table, select

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
)
from services.social.graduation import NeedStatus
from services.social.prefetch import (
    ABSENT,
    known_refs,
    registration_writes_deferred,
    school_age,
    take_household,
    take_referred,
)
from services.social.pseudonym import Keys, Kind, resolve_ref
from services.social.rules import floor_area_per_person, housing_needs
from services.social.tables import household_needs, households, referred_children

_UPSERT_HOUSEHOLD = (
    "ON CONFLICT (household_ref) DO UPDATE SET region_code = EXCLUDED.region_code, "
    "village = EXCLUDED.village, member_count = EXCLUDED.member_count, "
    "monthly_income = EXCLUDED.monthly_income, assessed_on = EXCLUDED.assessed_on, "
    "flagged_needs = EXCLUDED.flagged_needs, "
    # Eligibility is noted once: a later assessment keeps the first date.
    "grant_eligible_on = coalesce(households.grant_eligible_on, EXCLUDED.grant_eligible_on)"
)


async def _write(uow: UnitOfWork, table: Table, row: dict[str, Any],
                 on_conflict: str = "") -> None:
    if registration_writes_deferred(uow):
        uow.add(table, row, on_conflict)  # with the batch's other rows, at commit
    else:
        await uow.insert(table, [row], on_conflict)


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
    await _write(uow, households, dict(
        household_ref=ref, registered_on=intake.assessed_on, region_code=intake.region_code,
        village=intake.village, member_count=members, monthly_income=intake.monthly_income,
        assessed_on=intake.assessed_on,
        flagged_needs=sorted(already_flagged | {n.value for n in new_needs}),
        grant_eligible_on=intake.assessed_on if newly_eligible else None,
    ), _UPSERT_HOUSEHOLD)

    cause = event.envelope.id
    if existing is None:
        registered = await uow.emit(
            HouseholdRegistered(
                household_ref=ref, region_code=intake.region_code, member_count=members,
                registered_on=intake.assessed_on,
            ),
            subject=ref, correlationid=ref, causationid=cause,
        )
        cause = registered
    assessed = await uow.emit(
        HousingAssessed(
            household_ref=ref, region_code=intake.region_code, needs=needs,
            floor_area_per_person_m2=round(floor_area_per_person(intake.housing, members), 2),
            assessed_on=intake.assessed_on,
        ),
        subject=ref, correlationid=ref, causationid=cause,
    )
    if new_needs:
        await _flag(uow, intake, ref, new_needs, assessed)
    await _refer_children(uow, intake, ref, pseudonym_keys, cause)
    if newly_eligible:
        await uow.emit(
            GrantEligible(household_ref=ref, region_code=intake.region_code,
                          monthly_income=intake.monthly_income, poverty_line=poverty_line),
            subject=ref, correlationid=ref, causationid=cause,
        )


async def _flag(uow: UnitOfWork, intake: HouseholdIntake, ref: str, needs: list[HousingNeed],
                cause: UUID) -> None:
    for n in needs:
        await _write(uow, household_needs,
                     dict(household_ref=ref, need=n.value, status=NeedStatus.FLAGGED),
                     "ON CONFLICT DO NOTHING")
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
                for m, age in school_age(uow, intake)]
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
    for c in new:
        await _write(uow, referred_children, dict(
            household_ref=ref, person_ref=c.person_ref, referred_on=intake.assessed_on))
    for start in range(0, len(new), MAX_CHILDREN_PER_REFERRAL):
        await uow.emit(
            EducationReferred(household_ref=ref, region_code=intake.region_code,
                              children=new[start:start + MAX_CHILDREN_PER_REFERRAL]),
            subject=ref, correlationid=ref, causationid=cause,
        )
