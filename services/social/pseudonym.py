"""Identity numbers become keyed-hash references here; only the references leave Dinsos.

A ref, once minted, names its household or person for good: rotating the key must not
split a timeline. So the ref is found through a lookup table keyed by a hash of the number
under the current key; a number known only under a retired key gets a current-key row
pointing at the same ref the first time it is seen (lazy re-keying). Refs minted before
the table existed are ``h-``/``p-`` HMAC of the number under the key of the day, so each
known key's would-be ref is also looked for among the refs in use.
"""

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import NamedTuple

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.runtime.bulk import column_arrays, insert_statement
from services.social.tables import households, pseudonyms, referred_children


def _digest(key: bytes, kind: str, number: str) -> str:
    return hmac.new(key, f"{kind}:{number}".encode(), hashlib.sha256).hexdigest()[:32]


def household_ref(key: bytes, kk_number: str) -> str:
    """``h-`` and 32 hex digits of HMAC-SHA256 over the family-card number."""
    return "h-" + _digest(key, "kk", kk_number)


def person_ref(key: bytes, nik: str) -> str:
    """``p-`` and 32 hex digits of HMAC-SHA256 over the NIK."""
    return "p-" + _digest(key, "nik", nik)


class Kind(StrEnum):
    HOUSEHOLD = "kk"
    PERSON = "nik"


MINT = {Kind.HOUSEHOLD: household_ref, Kind.PERSON: person_ref}


def lookup_hash(key: bytes, kind: Kind, number: str) -> str:
    """The table's key: a hash distinct from any ref, so a row never reveals another's ref."""
    return hmac.new(key, f"lookup:{kind}:{number}".encode(), hashlib.sha256).hexdigest()


def fingerprint(key: bytes) -> str:
    """Names a key in the table (which rows a key wrote) without revealing it."""
    return hmac.new(key, b"sinergi-key-fingerprint", hashlib.sha256).hexdigest()[:12]


def parse_keys(text: str) -> tuple[bytes, ...]:
    """``SINERGI_PSEUDONYM_PREVIOUS_KEYS``: comma-separated, blanks ignored."""
    return tuple(k.strip().encode() for k in text.split(",") if k.strip())


@dataclass(frozen=True)
class Keys:
    current: bytes
    previous: tuple[bytes, ...] = ()

    @cached_property
    def all(self) -> tuple[bytes, ...]:
        """The current key first, then the previous ones."""
        return (self.current, *(k for k in self.previous if k != self.current))


Known = dict[tuple[Kind, str], str]
"""Refs already resolved in this transaction (see ``resolve_refs``), by kind and number."""


async def find_ref(conn: AsyncConnection, keys: Keys, kind: Kind, number: str,
                   known: Known | None = None) -> str | None:
    """The ref already minted for ``number``, re-keyed to the current key; None if none."""
    if known and (kind, number) in known:
        return known[(kind, number)]
    return (await resolve_refs(conn, keys, [(kind, number, False)])).get((kind, number))


async def resolve_ref(conn: AsyncConnection, keys: Keys, kind: Kind, number: str,
                      known: Known | None = None) -> str:
    """The ref of ``number``: the one already minted, else a new one under the current key."""
    if known and (kind, number) in known:
        return known[(kind, number)]
    return (await resolve_refs(conn, keys, [(kind, number, True)]))[(kind, number)]


async def resolve_refs(conn: AsyncConnection, keys: Keys,
                      requests: Iterable[tuple[Kind, str, bool]]) -> Known:
    """``find_ref`` for many ``(kind, number, mint)`` requests in one statement, two if
    some are new, three if a concurrent writer stored some of those first (``resolve_ref``
    where ``mint``; a number asked for both ways is minted).

    Numbers without a ref are left out unless minted. The result is what the one-number
    functions would return, so handlers given it as ``known`` skip their lookups.
    """
    lookup = Lookup.plan(keys, requests)
    return (await lookup.settle(conn, dict((await conn.execute(_FIND, lookup.params)).all()))).known


@dataclass(frozen=True)
class Lookup:
    """``resolve_refs`` in two halves, so a caller can run the find in a statement of its
    own (``FIND_SQL`` inside it, with ``params``) and hand its rows to ``settle``."""

    keys: Keys
    mint: dict[tuple[Kind, str], bool]
    hashes: dict[tuple[Kind, str], list[str]]
    candidates: dict[tuple[Kind, str], list[str]]

    @classmethod
    def plan(cls, keys: Keys, requests: Iterable[tuple[Kind, str, bool]]) -> "Lookup":
        mint: dict[tuple[Kind, str], bool] = {}
        for kind, number, minted in requests:
            mint[(kind, number)] = mint.get((kind, number), False) or minted
        # Each number's would-be legacy refs are looked for in the same statement as its
        # lookup hashes (a round trip less for every batch of new numbers); they matter
        # only for numbers without a lookup row. Hashes and refs cannot collide: refs
        # start h-/p-.
        return cls(keys, mint,
                   {item: [lookup_hash(k, *item) for k in keys.all] for item in mint},
                   {(kind, n): [MINT[kind](k, n) for k in keys.all] for kind, n in mint})

    @property
    def params(self) -> dict[str, list[str]]:
        return {"values": [h for hs in self.hashes.values() for h in hs],
                **{kind.value: [c for (of, _), cs in self.candidates.items() if of is kind
                                for c in cs] for kind in Kind}}

    async def settle(self, conn: AsyncConnection, rows: dict[str, str]) -> "Settled":
        """The refs, given the find's rows (hash or legacy ref → ref); stores new ones."""
        hashes, candidates = self.hashes, self.candidates
        found = {item: str(rows[hs[0]]) for item, hs in hashes.items() if hs[0] in rows}
        rekey = {item: str(next(rows[h] for h in hs if h in rows)) for item, hs in hashes.items()
                 if item not in found and any(h in rows for h in hs)}
        for kind, n in (item for item in self.mint if item not in found and item not in rekey):
            legacy = next((c for c in candidates[(kind, n)] if c in rows), None)
            if legacy is not None:
                rekey[(kind, n)] = legacy
            elif self.mint[(kind, n)]:
                rekey[(kind, n)] = candidates[(kind, n)][0]  # the current key's
        raced: frozenset[tuple[Kind, str]] = frozenset()
        if rekey:
            stored, raced = await _remember_many(
                conn, self.keys, {hashes[item][0]: (item, ref) for item, ref in rekey.items()})
            found.update(stored)
        return Settled(found, raced)


class Settled(NamedTuple):
    known: Known
    raced: frozenset[tuple[Kind, str]]
    """Numbers a concurrent transaction stored first, after the find had looked: what the
    find read about their refs (a household, say) may be out of date."""


# Many numbers at once: one array parameter each, so a batch costs one statement (an IN
# list would be a new statement, compiled and planned, for every batch size). Rows are
# (lookup hash, its ref) and (legacy ref in use, itself).
FIND_SQL = (
    f"SELECT lookup_hash, ref FROM {pseudonyms.fullname} "
    "WHERE lookup_hash = ANY(CAST(:values AS text[])) UNION ALL "
    f"SELECT household_ref, household_ref FROM {households.fullname} "
    f"WHERE household_ref = ANY(CAST(:{Kind.HOUSEHOLD.value} AS text[])) UNION ALL "
    f"SELECT person_ref, person_ref FROM {referred_children.fullname} "
    f"WHERE person_ref = ANY(CAST(:{Kind.PERSON.value} AS text[]))")
_FIND = text(FIND_SQL)


async def _remember_many(conn: AsyncConnection, keys: Keys,
                         refs: dict[str, tuple[tuple[Kind, str], str]]
                         ) -> tuple[Known, frozenset[tuple[Kind, str]]]:
    """Store the current key's lookup rows for ``refs`` (by the number's current-key
    lookup hash: its kind and number, and its ref): one insert, and one select for any a
    concurrent writer stored first (its ref wins; those numbers are returned apart)."""
    by_hash = {h: item for h, (item, _) in refs.items()}
    key_print = fingerprint(keys.current)
    # In hash order: two transactions storing the same numbers (a batch's lanes, Dinsos's
    # consumers) then wait for each other instead of deadlocking.
    rows = [dict(lookup_hash=h, kind=kind.value, ref=ref, key_fingerprint=key_print)
            for h, ((kind, _), ref) in sorted(refs.items())]
    stored: dict[str, str] = dict((await conn.execute(
        insert_statement(pseudonyms, tuple(rows[0]), "ON CONFLICT DO NOTHING",
                         returning="lookup_hash, ref"),
        column_arrays(pseudonyms, tuple(rows[0]), rows))).all())
    raced = [h for h in by_hash if h not in stored]
    if raced:
        stored.update((await conn.execute(
            select(pseudonyms.c.lookup_hash, pseudonyms.c.ref)
            .where(pseudonyms.c.lookup_hash.in_(raced)))).all())
    return ({by_hash[h]: str(ref) for h, ref in stored.items()},
            frozenset(by_hash[h] for h in raced))
