"""Social service handlers: plain functions of an event and a unit of work."""

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from contracts.codec import Event
from contracts.events.intake import HouseholdIntake
from contracts.events.social import HouseholdRegistered, HousingAssessed, HousingFlagged
from services.runtime.unit_of_work import UnitOfWork
from services.social.pseudonym import household_ref
from services.social.rules import floor_area_per_person, housing_needs
from services.social.tables import households


async def register_household(
    event: Event[HouseholdIntake], uow: UnitOfWork, pseudonym_key: bytes
) -> None:
    """Register (or re-assess) a household, then flag the housing needs not flagged before.

    The NIK and KK numbers stop here: only the keyed-hash household ref is stored or sent.
    """
    intake = event.data
    ref = household_ref(pseudonym_key, intake.kk_number)
    members = len(intake.members)
    needs = housing_needs(intake.housing, members)

    existing = (
        await uow.conn.execute(
            select(households.c.flagged_needs).where(households.c.household_ref == ref)
        )
    ).first()
    already_flagged = set(existing.flagged_needs) if existing else set()
    new_needs = [n for n in needs if n.value not in already_flagged]

    values = dict(
        region_code=intake.region_code, village=intake.village, member_count=members,
        monthly_income=intake.monthly_income, assessed_on=intake.assessed_on,
        flagged_needs=sorted(already_flagged | {n.value for n in new_needs}),
    )
    await uow.conn.execute(
        insert(households)
        .values(household_ref=ref, registered_on=intake.assessed_on, **values)
        .on_conflict_do_update(index_elements=[households.c.household_ref], set_=values)
    )

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
        await uow.emit(
            HousingFlagged(
                household_ref=ref, region_code=intake.region_code, village=intake.village,
                needs=new_needs,
            ),
            subject=ref, correlationid=ref, causationid=assessed.id,
        )
