"""What a batch of Dinsos records needs, read and locked in a few statements up front.

Handled one by one, a registration resolves its KK number and each child's NIK (up to four
statements each) and reads its household and referred children: twenty-odd round trips.
Here the whole batch's numbers are resolved, and its households read, at once; the
handlers take the results from ``uow.memo`` and fall back to their own queries for
anything not there.

Every Dinsos batch also locks its households first, in ref order, in one statement. Its
three consumers (intake, tickets, pupils) run their batches concurrently and their
handlers lock the same households; taken one by one in event order, two batches could
each hold a household the other waits for.
"""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Text, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY

from contracts.codec import Event
from contracts.events.intake import HouseholdIntake, Member
from services.runtime.unit_of_work import UnitOfWork
from services.social.empowerment import school_age_children
from services.social.pseudonym import Keys, Kind, Known, resolve_refs
from services.social.tables import households, referred_children

_DEFER_WRITES = "social.defer_registration_writes"
_REGISTERED = "social.registered_households"
_REFS = bindparam("refs", type_=ARRAY(Text))
ABSENT = object()
"""``take_household``'s answer for a ref the batch did not read."""


def known_refs(uow: UnitOfWork) -> Known:
    """The refs resolved for this transaction's batch (empty when handled one by one)."""
    refs: Known = uow.memo.setdefault("refs", {})
    return refs


def school_age(uow: UnitOfWork, intake: HouseholdIntake) -> list[tuple[Member, int]]:
    """``school_age_children`` of the intake, worked out once per transaction."""
    found: dict[int, tuple[HouseholdIntake, list[tuple[Member, int]]]] = (
        uow.memo.setdefault("school_age", {}))
    if id(intake) not in found:  # the intake is kept with its answer, so its id stays its own
        found[id(intake)] = (intake, school_age_children(intake))
    return found[id(intake)][1]


async def prepare_intake(events: Sequence[Event], uow: UnitOfWork, pseudonym_keys: Keys) -> None:
    registrations = [e.data for e in events if isinstance(e.data, HouseholdIntake)]
    others = [e.data.kk_number for e in events
              if not isinstance(e.data, HouseholdIntake) and hasattr(e.data, "kk_number")]
    known = known_refs(uow)
    known.update(await resolve_refs(uow.conn, pseudonym_keys, [
        *((Kind.HOUSEHOLD, i.kk_number, True) for i in registrations),
        *((Kind.PERSON, m.nik, True) for i in registrations for m, _ in school_age(uow, i)),
        *((Kind.HOUSEHOLD, n, False) for n in others),
    ]))
    refs = {known[(Kind.HOUSEHOLD, i.kk_number)] for i in registrations}
    refs |= {known[(Kind.HOUSEHOLD, n)] for n in others if (Kind.HOUSEHOLD, n) in known}
    if refs:
        await _read_households(uow, sorted(refs))
    kk_numbers = [i.kk_number for i in registrations] + others
    # Nothing later in this batch reads a registration's rows when each household has one
    # record in it (a caseload replay): they can be written with the batch's other rows.
    uow.memo[_DEFER_WRITES] = len(set(kk_numbers)) == len(kk_numbers)


def registration_writes_deferred(uow: UnitOfWork) -> bool:
    """True if this batch's registrations may write through ``uow.add``."""
    return bool(uow.memo.get(_DEFER_WRITES))


async def lock_households(events: Sequence[Event], uow: UnitOfWork,
                          concerning: tuple[type, ...]) -> None:
    """Lock the households (by ``household_ref``) of the batch's events of the ``concerning``
    types before any handler locks one, and note which of them Dinsos has registered (see
    ``registered``). Other events (a pupil enrolled, a ticket scheduled) change no household:
    locking their rows would only write row locks for nothing."""
    refs = sorted({e.data.household_ref for e in events if type(e.data) in concerning})
    if refs:
        uow.memo[_REGISTERED] = set((await uow.conn.execute(
            select(households.c.household_ref).where(households.c.household_ref == any_(_REFS))
            .order_by(households.c.household_ref).with_for_update(), {"refs": refs})).scalars())


def registered(uow: UnitOfWork, ref: str) -> bool | None:
    """Whether the household is registered, as ``lock_households`` found it (its row is
    locked, and no handler unregisters one); None if the batch's households were not read."""
    found: set[str] | None = uow.memo.get(_REGISTERED)
    return None if found is None else ref in found


async def _read_households(uow: UnitOfWork, refs: list[str]) -> None:
    """Each household's row and referred children, in one statement that locks the rows
    in ref order."""
    children = (select(func.array_agg(referred_children.c.person_ref))
                .where(referred_children.c.household_ref == households.c.household_ref)
                .scalar_subquery())
    rows = {r.household_ref: r for r in await uow.conn.execute(
        select(households.c.household_ref, households.c.flagged_needs,
               households.c.grant_eligible_on, children.label("children"))
        .where(households.c.household_ref == any_(_REFS))
        .order_by(households.c.household_ref).with_for_update(of=households),
        {"refs": refs})}
    uow.memo["households"] = {ref: rows.get(ref) for ref in refs}
    uow.memo["referred"] = {ref: set(rows[ref].children or ()) if ref in rows else set()
                            for ref in refs}


def take_household(uow: UnitOfWork, ref: str) -> Any:
    """The household row read (and locked) for the batch, None if it had none, ``ABSENT``
    if not read. Once per ref: a second registration in the batch must see the first's."""
    return uow.memo.get("households", {}).pop(ref, ABSENT)


def take_referred(uow: UnitOfWork, ref: str) -> set[str] | None:
    """The household's referred children read for the batch; None if not read."""
    found: set[str] | None = uow.memo.get("referred", {}).pop(ref, None)
    return found

