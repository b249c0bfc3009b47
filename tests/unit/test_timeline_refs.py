"""A timeline request for text that is no household ref is answered before any query."""

from uuid import uuid4

import httpx
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from services.runtime.auth import AgencyTokens
from services.timeline.api import create_app
from services.timeline.queries import household_timeline, is_household_ref

pytestmark = pytest.mark.unit

TOKENS = AgencyTokens({"operators": "t0ken"})


@pytest.mark.parametrize("text", [f"h-{uuid4().hex}", "h-" + "0" * 32])
def test_a_minted_household_ref_is_well_formed(text: str) -> None:
    assert is_household_ref(text)


@pytest.mark.parametrize("text", ["", "h-abc", f"p-{uuid4().hex}", f"h-{uuid4().hex}\x00",
                                  f"h-{uuid4().hex.upper()}", f"h-{uuid4().hex}0",
                                  f"h-{uuid4().hex}\n"])
def test_anything_else_is_not(text: str) -> None:
    assert not is_household_ref(text)


async def test_a_malformed_ref_is_refused_with_422_without_touching_the_database() -> None:
    # Nothing listens on port 1: had the request reached the database it would fail.
    engine = create_async_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    app = create_app(engine, TOKENS)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://timeline") as http:
        answer = await http.get("/households/h-abc%00def/timeline",
                                headers={"Authorization": "Bearer t0ken"})
    assert answer.status_code == 422
    assert answer.json()["detail"] == "household_ref must be h- and 32 lowercase hex digits"
    assert await household_timeline(None, "h-abc\x00def") == []  # type: ignore[arg-type]
    await engine.dispose()
