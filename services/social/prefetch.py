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

from sqlalchemy import Date, Text, any_, bindparam, select, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from contracts.codec import Event
from contracts.events.intake import HouseholdIntake, Member
from services.runtime.unit_of_work import UnitOfWork
from services.social.empowerment import school_age_children
from services.social.pseudonym import FIND_SQL, Keys, Kind, Known, Lookup
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
    lookup = Lookup.plan(pseudonym_keys, [
        *((Kind.HOUSEHOLD, i.kk_number, True) for i in registrations),
        *((Kind.PERSON, m.nik, True) for i in registrations for m, _ in school_age(uow, i)),
        *((Kind.HOUSEHOLD, n, False) for n in others),
    ])
    # The numbers' lookup and their households' read are one statement (a round trip less
    # for every batch): every ref a number can have is either found by the lookup or one of
    # its candidates, so the households of all of them are the batch's.
    rows = (await uow.conn.execute(_FIND_AND_LOCK, lookup.params)).all()
    found = {r.lookup_hash: r.ref for r in rows if r.lookup_hash is not None}
    read = {r.ref: r for r in rows if r.lookup_hash is None}
    settled = await lookup.settle(uow.conn, found)
    known = known_refs(uow)
    known.update(settled.known)
    refs = {known[(Kind.HOUSEHOLD, i.kk_number)] for i in registrations}
    refs |= {known[(Kind.HOUSEHOLD, n)] for n in others if (Kind.HOUSEHOLD, n) in known}
    # A number a concurrent transaction stored after the statement looked may have a
    # household the statement could not see: the handlers read (and lock) it themselves.
    refs -= {known[item] for item in settled.raced if item in known}
    uow.memo["households"] = {ref: read.get(ref) for ref in refs}
    uow.memo["referred"] = {ref: set(read[ref].children or ()) if ref in read else set()
                            for ref in refs}
    kk_numbers = [i.kk_number for i in registrations] + others
    # Nothing later in this batch reads a registration's rows when each household has one
    # record in it (a caseload replay): they can be written with the batch's other rows.
    uow.memo[_DEFER_WRITES] = len(set(kk_numbers)) == len(kk_numbers)


# Rows (lookup hash or legacy ref, ref, NULLs) from the lookup, then (NULL, household ref,
# its state) for each household found, locked in ref order. The refs go in as an array
# (``= ANY(ARRAY(...))``) so the households are probed through their key, not scanned.
_FIND_AND_LOCK = text(
    f"WITH found AS MATERIALIZED ({FIND_SQL}), "
    "locked AS MATERIALIZED ("
    " SELECT h.household_ref, h.flagged_needs, h.grant_eligible_on,"
    f" (SELECT array_agg(c.person_ref) FROM {referred_children.fullname} c"
    "   WHERE c.household_ref = h.household_ref) AS children"
    f" FROM {households.fullname} h"
    " WHERE h.household_ref = ANY(ARRAY(SELECT ref FROM found))"
    " ORDER BY h.household_ref FOR UPDATE OF h) "
    "SELECT lookup_hash, ref, CAST(NULL AS jsonb) AS flagged_needs,"
    " CAST(NULL AS date) AS grant_eligible_on, CAST(NULL AS text[]) AS children FROM found "
    "UNION ALL SELECT NULL, household_ref, flagged_needs, grant_eligible_on, children FROM locked"
).columns(lookup_hash=Text, ref=Text, flagged_needs=JSONB, grant_eligible_on=Date,
          children=ARRAY(Text))


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


def take_household(uow: UnitOfWork, ref: str) -> Any:
    """The household row read (and locked) for the batch, None if it had none, ``ABSENT``
    if not read. Once per ref: a second registration in the batch must see the first's."""
    return uow.memo.get("households", {}).pop(ref, ABSENT)


def take_referred(uow: UnitOfWork, ref: str) -> set[str] | None:
    """The household's referred children read for the batch; None if not read."""
    found: set[str] | None = uow.memo.get("referred", {}).pop(ref, None)
    return found

