"""An HTTP endpoint open beyond this machine with the development tokens says so, loudly."""

import asyncio
from typing import Any

import pytest
from fastapi import FastAPI
from structlog.testing import capture_logs

from services.runtime.main import serving_http
from services.runtime.settings import Settings

pytestmark = pytest.mark.unit


async def served_logs(**env: str) -> list[dict[str, Any]]:
    settings = Settings.model_validate({"SINERGI_HTTP_PORT": "0", **env})
    stop = asyncio.Event()
    stop.set()  # serve, then stop at once: only what is logged at start matters here
    with capture_logs() as logs:
        await serving_http(lambda _: FastAPI(), settings)(None, stop)  # type: ignore[arg-type]
    return logs


async def test_the_development_tokens_on_every_interface_are_logged_as_an_error() -> None:
    logs = await served_logs(SINERGI_HTTP_HOST="0.0.0.0")
    [found] = [e for e in logs if e["event"] == "development_api_tokens_in_use"]
    assert found["log_level"] == "error" and found["host"] == "0.0.0.0"


@pytest.mark.parametrize("env", [
    {"SINERGI_HTTP_HOST": "127.0.0.1"},
    {"SINERGI_HTTP_HOST": "0.0.0.0", "SINERGI_API_TOKENS": "social:s3cret-of-our-own"},
])
async def test_loopback_or_tokens_of_ones_own_log_nothing_of_the_kind(env: dict[str, str]) -> None:
    logs = await served_logs(**env)
    assert not [e for e in logs if e["event"] == "development_api_tokens_in_use"]
