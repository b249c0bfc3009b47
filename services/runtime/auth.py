"""Who may call the HTTP endpoints, and what each agency sees: derived from the catalogue.

A caller presents a per-agency token (``Authorization: Bearer <token>``, or for the pages the
``sinergi_token`` cookie). Tokens come from ``SINERGI_API_TOKENS`` as ``agency:token`` pairs;
they are compared in constant time. An agency sees a timeline entry when it reads or writes
the topic of the entry's event type (``TopicSpec.readers``/``writers``); operators run the
platform and see every entry. An agency system may post only the intake types of the intake
topic it writes.
"""

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

from fastapi import HTTPException, Request

from contracts.catalogue import EVENTS, TOPICS, Kind

COOKIE = "sinergi_token"
OPERATORS = "operators"
"""Runs the platform (dead letters, SLAs, the funnel): sees every agency event."""


def parse_tokens(spec: str) -> dict[str, str]:
    """``"social:abc,education:def"`` -> agency -> token; refuses empty or repeated parts."""
    tokens: dict[str, str] = {}
    for n, pair in enumerate(filter(None, (p.strip() for p in spec.split(","))), 1):
        agency, sep, token = pair.partition(":")
        if not sep or not agency.strip() or not token.strip():
            # Named by position, not shown: a part without its colon may be a bare token.
            raise ValueError(f"SINERGI_API_TOKENS: part {n} is not agency:token")
        if agency.strip() in tokens:
            raise ValueError(f"SINERGI_API_TOKENS: agency {agency.strip()!r} appears twice")
        shared = [a for a, t in tokens.items() if t == token.strip()]
        if shared:  # the caller would be whichever came last, operators perhaps
            raise ValueError(f"SINERGI_API_TOKENS: agencies {shared[0]!r} and "
                             f"{agency.strip()!r} share a token")
        tokens[agency.strip()] = token.strip()
    return tokens


@dataclass(frozen=True)
class AgencyTokens:
    tokens: Mapping[str, str]

    @classmethod
    def parse(cls, spec: str) -> "AgencyTokens":
        return cls(parse_tokens(spec))

    def agency_of(self, token: str | None) -> str | None:
        """The agency holding ``token``; every token is compared, so timing tells nothing."""
        if not token:
            return None
        found = None
        for agency, known in self.tokens.items():
            if hmac.compare_digest(token.encode(), known.encode()):
                found = agency
        return found

    def caller(self, request: Request, cookie: bool) -> str | None:
        """The agency of the request's bearer token (or, if ``cookie``, its login cookie)."""
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        token = credentials.strip() if scheme.lower() == "bearer" else None
        if token is None and cookie:
            token = request.cookies.get(COOKIE)
        return self.agency_of(token)

    def require(self, request: Request, cookie: bool = True) -> str:
        """The calling agency, or 401 when no known token came with the request."""
        agency = self.caller(request, cookie)
        if agency is None:
            raise HTTPException(401, detail="a valid agency token is required",
                                headers={"WWW-Authenticate": "Bearer"})
        return agency


@cache
def visible_types(agency: str) -> frozenset[str]:
    """Agency event types whose topic ``agency`` reads or writes; operators: all of them."""
    return frozenset(
        spec.type for spec in EVENTS.values()
        if TOPICS[spec.topic].kind is Kind.AGENCY and (
            agency == OPERATORS or agency in TOPICS[spec.topic].readers
            or agency in TOPICS[spec.topic].writers)
    )


@cache
def postable_types(agency: str) -> frozenset[str]:
    """Intake types an agency system may post: those of the intake topics it writes."""
    return frozenset(spec.type for spec in EVENTS.values()
                     if TOPICS[spec.topic].kind is Kind.INTAKE
                     and agency in TOPICS[spec.topic].writers)


def may_see(agency: str, event_type: str) -> bool:
    return event_type in visible_types(agency)


def forbidden(what: str) -> HTTPException:
    return HTTPException(403, detail=f"this agency's token may not use {what}")
