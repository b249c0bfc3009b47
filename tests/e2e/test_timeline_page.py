"""The timeline page as agency staff see it: the real timeline service, headless Chromium.

One household's case is published through Kafka as the agencies' services would publish it;
the timeline service runs as its own process (``python -m services.timeline``), projects the
events and serves the pages; Debian's Chromium, driven by Playwright, reads them. The story
is dated in 2020 so that its SLA breaches are the oldest ones and head their lists whatever
else other tests left in the shared tables. Screenshots go to test-output/screenshots/.
"""

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from contracts.base import Contract
from contracts.catalogue import spec_for
from contracts.codec import encode
from contracts.envelope import new_envelope
from contracts.events import education as edu
from contracts.events import public_works as pw
from contracts.events import social
from contracts.events.social import HousingNeed
from services.runtime.auth import COOKIE, parse_tokens
from services.runtime.kafka import ensure_topics, make_producer
from services.runtime.settings import Settings
from services.stack.common import free_port
from tests.support import until

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-output" / "screenshots"
LOGS = REPO / "test-output" / "e2e-logs"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
INSTALL_HINT = ("install it with `bash .ci/install-browser.sh` (Debian's chromium, as root) and "
                "`pip install 'playwright==1.65.2'` (never `playwright install`)")
REGION = "6411"  # Mahakam Ulu
VILLAGE = "<i>Long Apari</i>"  # markup in the data must reach the page as text
START = datetime(2020, 1, 6, tzinfo=UTC)


def missing_browser_parts() -> list[str]:
    missing = [] if CHROMIUM.is_file() else [f"Chromium at {CHROMIUM}"]
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        missing.append("the playwright Python package")
    return missing


@dataclass
class Household:
    ref: str
    ids: dict[str, UUID]
    """Step name -> event id, in timeline order."""
    funnel_before: dict[str, int]


def step(data: Contract, ref: str, hours: float, cause: UUID | None) -> tuple[Any, Contract]:
    envelope = new_envelope(type=spec_for(type(data)).type, source="e2e-agency-systems",
                            subject=ref, correlationid=ref, causationid=cause,
                            time=START + timedelta(hours=hours))
    return envelope, data


def story(ref: str) -> dict[str, tuple[Any, Contract]]:
    """Registration, a housing flag with two works tickets, a child enrolled then at risk."""
    child = f"p-{uuid4().hex}"
    water, sanitation = HousingNeed.CLEAN_WATER, HousingNeed.SANITATION
    s: dict[str, tuple[Any, Contract]] = {}
    s["registered"] = step(social.HouseholdRegistered(
        household_ref=ref, region_code=REGION, member_count=5, registered_on=date(2020, 1, 6)),
        ref, 0, uuid4())  # caused by the intake record, which is not on the timeline
    s["assessed"] = step(social.HousingAssessed(
        household_ref=ref, region_code=REGION, needs=[water, sanitation],
        floor_area_per_person_m2=6.4, assessed_on=date(2020, 1, 6)),
        ref, 0.1, s["registered"][0].id)
    s["flagged"] = step(social.HousingFlagged(
        household_ref=ref, region_code=REGION, village=VILLAGE, needs=[water, sanitation]),
        ref, 0.2, s["assessed"][0].id)
    s["referred"] = step(social.EducationReferred(
        household_ref=ref, region_code=REGION, children=[social.Child(person_ref=child, age=11)]),
        ref, 0.3, s["registered"][0].id)
    for name, need, due in (("water_ticket", water, date(2020, 2, 5)),
                            ("sanitation_ticket", sanitation, date(2099, 1, 1))):
        s[name] = step(pw.WorksTicketOpened(
            ticket_id=uuid4(), household_ref=ref, region_code=REGION, need=need,
            flag_event_id=s["flagged"][0].id, due_on=due),
            ref, 2 if need is water else 2.1, s["flagged"][0].id)
    s["enrolled"] = step(edu.PupilEnrolled(
        household_ref=ref, person_ref=child, region_code=REGION, level=edu.SchoolLevel.SD),
        ref, 5, s["referred"][0].id)
    water_ticket = s["water_ticket"][1]
    assert isinstance(water_ticket, pw.WorksTicketOpened)
    s["water_started"] = step(pw.WorksTicketStarted(
        ticket_id=water_ticket.ticket_id, household_ref=ref, region_code=REGION, need=water,
        started_on=date(2020, 2, 10)), ref, 35 * 24, s["water_ticket"][0].id)
    s["dropout_risk"] = step(edu.DropoutRisk(
        household_ref=ref, person_ref=child, month="2020-02", attendance_pct=62.5,
        months_below=2), ref, 60 * 24, s["enrolled"][0].id)
    return s


def operators_token() -> str:
    return parse_tokens(Settings().api_tokens.get_secret_value())["operators"]


def signed_in() -> dict[str, str]:
    return {"Authorization": f"Bearer {operators_token()}"}


def start_process(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen([sys.executable, "-m", "services.timeline"], env=env,
                                stdout=log, stderr=subprocess.STDOUT, cwd=REPO)


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
async def timeline_url(stack_settings: Settings) -> AsyncIterator[str]:
    """The timeline service as a process: it projects the agency topics and serves the page."""
    await ensure_topics(stack_settings.kafka_bootstrap_servers)
    port = free_port()
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": stack_settings.kafka_bootstrap_servers,
           "DATABASE_URL": stack_settings.database_url, "SINERGI_HTTP_PORT": str(port),
           "PYTHONPATH": str(REPO)}
    log_path = LOGS / "timeline-page.log"
    proc = start_process(env, log_path)
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            async def answering() -> bool:
                assert proc.poll() is None, f"timeline service exited ({proc.returncode}): " \
                                            f"see {log_path}"
                try:
                    return (await http.get(f"{url}/healthz")).status_code == 200
                except httpx.TransportError:
                    return False

            await until(answering, within=180, what="the timeline service answering /healthz")
        yield url
    finally:
        await asyncio.to_thread(stop_process, proc)


@pytest.fixture(scope="module")
async def household(stack_settings: Settings, timeline_url: str) -> Household:
    ref = f"h-{uuid4().hex}"
    steps = story(ref)
    async with httpx.AsyncClient(base_url=timeline_url, timeout=10,
                                 headers=signed_in()) as http:
        before = next(r for r in (await http.get("/funnel")).json()["regions"]
                      if r["region_code"] == REGION)
        producer = make_producer(stack_settings.kafka_bootstrap_servers, "e2e-agency-systems")
        await producer.start()
        try:
            for envelope, data in steps.values():
                headers, value = encode(envelope, data)
                await producer.send_and_wait(spec_for(type(data)).topic, value=value,
                                             key=ref.encode(), headers=headers)
        finally:
            await producer.stop()

        async def projected() -> bool:
            answer = await http.get(f"/households/{ref}/timeline")
            return answer.status_code == 200 and len(answer.json()["entries"]) == len(steps)

        await until(projected, within=120, what="the timeline service projecting the story")
    return Household(ref, {name: env.id for name, (env, _) in steps.items()}, before)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    missing = missing_browser_parts()
    if missing:
        pytest.fail(f"{' and '.join(missing)} missing: {INSTALL_HINT}", pytrace=False)
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=str(CHROMIUM),
                                                    args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


@pytest.fixture
async def page(browser: Any, timeline_url: str) -> AsyncIterator[Any]:
    """A tab signed in as operators (the cookie ``/login`` would set)."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    await context.add_cookies([{"name": COOKIE, "value": operators_token(),
                                "url": timeline_url}])
    tab = await context.new_page()
    tab.set_default_timeout(30_000)
    yield tab
    await context.close()


async def screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


async def texts(page: Any, selector: str) -> list[str]:
    return [s.strip() for s in await page.locator(selector).all_inner_texts()]


def test_headless_chromium_and_playwright_are_installed() -> None:
    assert missing_browser_parts() == [], f"missing: {missing_browser_parts()}: {INSTALL_HINT}"


async def test_household_page_lists_the_entries_in_order_with_indonesian_labels(
    page: Any, timeline_url: str, household: Household,
) -> None:
    answer = await page.goto(f"{timeline_url}/households/{household.ref}")

    assert answer.status == 200
    assert await page.get_attribute("html", "lang") == "id"
    assert await texts(page, "table.entries thead th") == [
        "Waktu (WITA)", "Instansi", "Kejadian", "Ringkasan", "Disebabkan oleh"]
    rows = page.locator("table.entries tbody tr")
    assert [await r.get_attribute("id") for r in await rows.all()] == [
        f"e-{i}" for i in household.ids.values()]
    assert await texts(page, "table.entries td[data-agency]") == [
        "Dinsos", "Dinsos", "Dinsos", "Dinsos", "Dinas PUPR", "Dinas PUPR", "Disdik",
        "Dinas PUPR", "Disdik"]
    labels = [t.splitlines()[0] for t in await texts(page, "table.entries td.event")]
    assert labels == ["Pendaftaran rumah tangga", "Penilaian rumah", "Rumah ditandai (RTLH)",
                      "Rujukan pendidikan", "Tiket dibuka", "Tiket dibuka",
                      "Pendaftaran sekolah", "Pekerjaan dimulai", "Risiko putus sekolah"]
    assert (await texts(page, "table.entries td.time"))[0] == "6 Jan 2020 08:00"  # WITA
    flagged = page.locator(f"#e-{household.ids['flagged']} td.summary")
    assert "sambungan air bersih, sanitasi (jamban sehat)" in await flagged.inner_text()
    assert VILLAGE in await flagged.inner_text()
    assert await flagged.locator("i").count() == 0
    housing = page.locator('[data-status="status.housing"]')
    assert await housing.locator(".value").inner_text() == "2 terbuka, 0 selesai"
    assert await housing.locator('[data-need="clean_water_connection"] .badge').inner_text() \
        == "terbuka · sedang dikerjakan"
    assert await housing.locator('[data-need="sanitation"] .badge').inner_text() \
        == "terbuka · tiket dibuka"
    children = page.locator('[data-status="status.children"]')
    assert await children.locator(".value").inner_text() == "1 berisiko putus sekolah"
    assert "belum ada tindak lanjut" in await children.inner_text()
    assert await page.locator('[data-status="status.graduated"] .value').inner_text() \
        == "Belum lulus"
    await screenshot(page, "household-id.png")


async def test_cause_column_links_each_entry_to_the_entry_that_caused_it(
    page: Any, timeline_url: str, household: Household,
) -> None:
    await page.goto(f"{timeline_url}/households/{household.ref}")
    ticket_row = page.locator(f"#e-{household.ids['water_ticket']}")
    cause = ticket_row.locator("a.cause")

    assert await cause.get_attribute("href") == f"#e-{household.ids['flagged']}"
    assert (await cause.inner_text()).startswith("Rumah ditandai (RTLH)")
    registered = page.locator(f"#e-{household.ids['registered']} td.caused-by")
    assert "di luar linimasa" in await registered.inner_text()
    await cause.click()
    assert page.url.endswith(f"#e-{household.ids['flagged']}")
    assert await page.evaluate("document.querySelector(':target').id") == \
        f"e-{household.ids['flagged']}"
    await page.screenshot(path=str(SCREENSHOTS / "household-cause-followed.png"))


async def test_english_is_one_click_away_and_shows_the_same_household(
    page: Any, timeline_url: str, household: Household,
) -> None:
    await page.goto(f"{timeline_url}/households/{household.ref}")
    await page.click("a.lang-switch")

    assert page.url.endswith(f"/households/{household.ref}?lang=en")
    assert await page.get_attribute("html", "lang") == "en"
    assert await texts(page, "table.entries thead th") == [
        "Time (WITA)", "Agency", "Event", "Summary", "Caused by"]
    labels = [t.splitlines()[0] for t in await texts(page, "table.entries td.event")]
    assert labels[:3] == ["Household registered", "Housing assessed", "Housing flagged"]
    assert labels[-1] == "Dropout risk"
    assert await page.locator('[data-status="status.graduated"] .value').inner_text() \
        == "Not graduated"
    cause = page.locator(f"#e-{household.ids['water_ticket']} a.cause")
    assert (await cause.inner_text()).startswith("Housing flagged")
    assert await page.locator("a.lang-switch").inner_text() == "Bahasa Indonesia"
    await screenshot(page, "household-en.png")


async def test_overview_shows_the_funnel_row_the_chart_and_the_households_sla_breaches(
    page: Any, timeline_url: str, household: Household,
) -> None:
    await page.goto(f"{timeline_url}/")
    async with httpx.AsyncClient(base_url=timeline_url, headers=signed_in()) as http:
        now = next(r for r in (await http.get("/funnel")).json()["regions"]
                   if r["region_code"] == REGION)

    assert await page.locator("h1").inner_text() == "Ringkasan Provinsi Kalimantan Timur"
    row = page.locator(f'table.funnel-table tr[data-region="{REGION}"]')
    assert (await row.locator("th").inner_text()).startswith("Mahakam Ulu")
    shown = {s: int(await row.locator(f'td[data-stage="{s}"] .n').inner_text())
             for s in ("registered", "flagged", "in_school", "graduated")}
    assert shown == {s: now[s] for s in shown}
    assert shown["registered"] >= household.funnel_before["registered"] + 1
    assert shown["flagged"] >= household.funnel_before["flagged"] + 1
    assert shown["in_school"] >= household.funnel_before["in_school"] + 1
    chart = page.locator('#funnel-chart svg[role="img"]')
    assert await chart.count() == 1
    assert await chart.locator("rect").count() == 10 * 6
    bar = chart.locator(f'rect[data-region="{REGION}"][data-stage="registered"]')
    assert float(await bar.get_attribute("height")) > 0
    assert (await bar.locator("title").text_content()).startswith("Mahakam Ulu · Terdaftar:")

    overdue = page.locator(f'[data-sla="sla.tickets"] a[href*="{household.ref}"]')
    assert await overdue.count() == 1  # the sanitation ticket is not due until 2099
    assert await overdue.get_attribute("href") == \
        f"/households/{household.ref}#e-{household.ids['water_ticket']}"
    risk = page.locator(f'[data-sla="sla.risks"] a[href*="{household.ref}"]')
    assert await risk.get_attribute("href") == \
        f"/households/{household.ref}#e-{household.ids['dropout_risk']}"
    assert int(await page.locator('[data-sla="sla.tickets"] .count').inner_text()) >= 1
    await screenshot(page, "overview-id.png")

    await overdue.click()
    assert await page.evaluate("document.querySelector(':target').id") == \
        f"e-{household.ids['water_ticket']}"


async def test_overview_in_english_names_the_stages_and_breaches_in_english(
    page: Any, timeline_url: str, household: Household,
) -> None:
    await page.goto(f"{timeline_url}/?lang=en")

    assert await page.locator("h1").inner_text() == "East Kalimantan province overview"
    assert (await texts(page, "table.funnel-table thead th"))[1:3] == [
        "Registered", "Housing flagged"]
    assert (await texts(page, '[data-sla="sla.tickets"] h3'))[0].startswith(
        "Works tickets past due")
    link = page.locator(f'[data-sla="sla.risks"] a[href*="{household.ref}"]')
    assert (await link.get_attribute("href")).startswith(f"/households/{household.ref}?lang=en")
    await screenshot(page, "overview-en.png")


async def test_search_box_opens_a_household_and_an_unknown_one_gets_a_404_page(
    page: Any, timeline_url: str, household: Household,
) -> None:
    await page.goto(f"{timeline_url}/")
    await page.fill("#find-ref", household.ref)
    await page.click(".find button")
    await page.wait_for_url(f"**/households/{household.ref}")
    found = await texts(page, "table.entries tbody tr")

    unknown = await page.goto(f"{timeline_url}/households/h-{uuid4().hex}")
    unknown_text = await page.locator("main").inner_text()
    unknown_en = await page.goto(f"{timeline_url}/households/h-{uuid4().hex}?lang=en")

    assert len(found) == len(household.ids)
    assert unknown.status == 404 and "Belum ada catatan untuk rumah tangga" in unknown_text
    assert unknown_en.status == 404
    assert "No timeline entries" in await page.locator("main").inner_text()
