"""A service whose outbox relay runs in a process of its own (SINERGI_RELAY_PROCESS=true),
started as the deployment starts it, on the real stack."""

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from uuid import uuid4

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts.catalogue import SOCIAL_INTAKE
from contracts.codec import encode
from services.demo.households import intake_envelope
from services.runtime.settings import Settings
from tests.support import fresh_intakes, until

pytestmark = pytest.mark.integration


class Service:
    def __init__(self, proc: asyncio.subprocess.Process, log: Path) -> None:
        self.proc, self.log = proc, log

    def logged(self, event: str) -> list[dict[str, object]]:
        lines = self.log.read_text(errors="replace").splitlines()
        return [e for e in (json.loads(line) for line in lines if line.startswith("{"))
                if e.get("event") == event]

    async def relay_pid(self) -> int:
        async def started() -> int | None:
            found = self.logged("relay_process_started")
            return int(str(found[-1]["pid"])) if found else None
        return int(await until(started, within=120, what="the relay process to start"))


@pytest.fixture
async def social(stack_settings: Settings, tmp_path: Path) -> AsyncIterator[Service]:
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": stack_settings.kafka_bootstrap_servers,
           "DATABASE_URL": stack_settings.database_url, "SINERGI_RELAY_PROCESS": "true"}
    log = tmp_path / "social.log"
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "services.social", env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=out)
    service = Service(proc, log)
    try:
        yield service
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"  # a zombie has exited; nobody may be left to reap it


async def last_outbox_id(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(text("SELECT coalesce(max(id), 0) FROM social.outbox")))


async def send_intake(producer) -> None:
    intake = fresh_intakes(1)[0]
    headers, payload = encode(intake_envelope(f"CASE-{uuid4().hex[:8]}"), intake)
    await producer.send_and_wait(SOCIAL_INTAKE.name, value=payload,
                                 key=intake.kk_number.encode(), headers=headers)


async def sent_since(engine: AsyncEngine, before: int) -> bool:
    """Social has written an intake's events (registered, assessed, ...) after outbox row
    ``before``, and every one of them is sent."""
    async with engine.connect() as conn:
        written, unsent = (await conn.execute(text(
            "SELECT count(*), count(*) FILTER (WHERE sent_at IS NULL) "
            "FROM social.outbox WHERE id > :before"), {"before": before})).one()
    return bool(written >= 2 and unsent == 0)


async def test_the_relay_process_publishes_what_the_service_commits_and_stops_with_it(
    social: Service, engine: AsyncEngine, producer
) -> None:
    before = await last_outbox_id(engine)
    relay = await social.relay_pid()
    assert relay != social.proc.pid and alive(relay)
    # The consumers yield the core to the relay when both wake (main.yield_to_the_relay).
    await until(lambda: asyncio.sleep(0, os.sched_getscheduler(social.proc.pid)
                                      == os.SCHED_BATCH), what="the consumers' SCHED_BATCH")
    assert os.sched_getscheduler(relay) == os.SCHED_OTHER
    await send_intake(producer)
    await until(lambda: sent_since(engine, before), within=120,
                what="the intake's events to be sent")

    social.proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(social.proc.wait(), timeout=120) == 0
    assert not alive(relay)  # the service waited for it
    assert social.logged("relay_process_stopped")


async def test_the_relay_process_exits_when_the_service_process_is_killed(
    social: Service
) -> None:
    relay = await social.relay_pid()
    social.proc.kill()  # no chance to stop it: the child sees its pipe close
    await social.proc.wait()
    await until(lambda: asyncio.sleep(0, not alive(relay)), within=60,
                what="the relay process to exit after its service was killed")


async def test_a_relay_process_that_dies_is_started_again_and_sends_what_was_left(
    social: Service, engine: AsyncEngine, producer
) -> None:
    first = await social.relay_pid()
    os.kill(first, signal.SIGKILL)
    before = await last_outbox_id(engine)
    await send_intake(producer)

    async def restarted() -> bool:
        pids = [int(str(e["pid"])) for e in social.logged("relay_process_started")]
        return len(pids) == 2 and pids[-1] != first and alive(pids[-1])

    await until(restarted, within=120, what="a second relay process")
    assert social.logged("relay_process_exited")
    await until(lambda: sent_since(engine, before), within=120,
                what="the intake's events to be sent")
