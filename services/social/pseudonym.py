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
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

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

    @property
    def all(self) -> tuple[bytes, ...]:
        return (self.current, *(k for k in self.previous if k != self.current))


async def _existing_ref(conn: AsyncConnection, keys: Keys, kind: Kind, number: str) -> str | None:
    """The ref this number already has: through any known key's lookup row, or minted
    before the table existed (a household or referred child with that key's ref)."""
    hashes = [lookup_hash(k, kind, number) for k in keys.all]
    rows = dict((await conn.execute(
        select(pseudonyms.c.lookup_hash, pseudonyms.c.ref)
        .where(pseudonyms.c.lookup_hash.in_(hashes))
    )).all())
    found = next((rows[h] for h in hashes if h in rows), None)
    if found is not None:
        return found
    candidates = [MINT[kind](k, number) for k in keys.all]
    column = (households.c.household_ref if kind is Kind.HOUSEHOLD
              else referred_children.c.person_ref)
    in_use = set((await conn.execute(
        select(column).where(column.in_(candidates)).distinct())).scalars())
    return next((c for c in candidates if c in in_use), None)


async def _remember(conn: AsyncConnection, keys: Keys, kind: Kind, number: str, ref: str) -> str:
    """Store the current key's row for ``ref``; the ref a concurrent writer stored wins."""
    row = dict(lookup_hash=lookup_hash(keys.current, kind, number), kind=kind.value, ref=ref,
               key_fingerprint=fingerprint(keys.current))
    stored = await conn.scalar(
        insert(pseudonyms).values(row).on_conflict_do_nothing().returning(pseudonyms.c.ref))
    if stored is not None:
        return str(stored)
    return str(await conn.scalar(
        select(pseudonyms.c.ref).where(pseudonyms.c.lookup_hash == row["lookup_hash"])))


async def find_ref(conn: AsyncConnection, keys: Keys, kind: Kind, number: str) -> str | None:
    """The ref already minted for ``number``, re-keyed to the current key; None if none."""
    current = await conn.scalar(select(pseudonyms.c.ref).where(
        pseudonyms.c.lookup_hash == lookup_hash(keys.current, kind, number)))
    if current is not None:
        return str(current)
    found = await _existing_ref(conn, keys, kind, number)
    return None if found is None else await _remember(conn, keys, kind, number, found)


async def resolve_ref(conn: AsyncConnection, keys: Keys, kind: Kind, number: str) -> str:
    """The ref of ``number``: the one already minted, else a new one under the current key."""
    found = await find_ref(conn, keys, kind, number)
    if found is not None:
        return found
    return await _remember(conn, keys, kind, number, MINT[kind](keys.current, number))
