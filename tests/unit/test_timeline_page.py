"""The timeline page's pure parts: the household status, the words, the escaping, the chart."""

from typing import Any
from uuid import uuid4

import pytest

from contracts.catalogue import EVENTS, TOPICS, Kind
from services.timeline import i18n
from services.timeline.page.chart import _nice_top, funnel_chart
from services.timeline.page.household import household_status
from services.timeline.page.markup import Html, join, tag
from services.timeline.queries import complete_funnel

pytestmark = pytest.mark.unit

WATER, SANITATION = "clean_water_connection", "sanitation"


def entry(event_type: str, **data: Any) -> dict[str, Any]:
    return {"event_id": str(uuid4()), "type": event_type, "data": data}


def test_each_need_stands_where_its_last_flag_ticket_or_resolution_left_it() -> None:
    steps = [("social.housing.flagged.v1", {"needs": [WATER, SANITATION]}, "waiting"),
             ("public_works.ticket.opened.v1", {"need": WATER}, "opened"),
             ("public_works.ticket.scheduled.v1", {"need": WATER}, "scheduled"),
             ("public_works.ticket.started.v1", {"need": WATER}, "in_progress"),
             ("public_works.ticket.completed.v1", {"need": WATER}, "completed"),
             ("social.housing.resolved.v1", {"need": WATER}, "resolved")]
    entries = []
    for event_type, data, expected in steps:
        entries.append(entry(event_type, **data))
        assert household_status(entries).needs[WATER] == expected
    entries.append(entry("public_works.ticket.rejected.v1", need=SANITATION))

    assert household_status(entries).needs == {WATER: "resolved", SANITATION: "rejected"}


def test_a_child_is_at_risk_until_reengaged_and_a_follow_up_is_shown() -> None:
    followed = [entry("education.dropout.risk.v1", person_ref="p-1"),
                entry("social.case.follow_up_opened.v1", person_ref="p-1")]
    ignored = [entry("education.dropout.risk.v1", person_ref="p-2")]
    reengaged = [*ignored, entry("education.pupil.reengaged.v1", person_ref="p-2")]
    stray = [entry("social.case.follow_up_opened.v1", person_ref="p-3")]

    assert household_status(followed + ignored).at_risk == {"p-1": True, "p-2": False}
    assert household_status(followed + reengaged).at_risk == {"p-1": True}
    assert household_status(stray).at_risk == {}


def test_region_grant_and_graduation_come_from_their_events() -> None:
    entries = [entry("social.household.registered.v1", region_code="6411"),
               entry("education.pupil.enrolled.v1", person_ref="p-1"),
               entry("education.pupil.enrolled.v1", person_ref="p-1"),
               entry("social.grant.awarded.v1", amount=5_000_000),
               entry("social.household.graduated.v1", graduated_on="2025-09-01")]

    status = household_status(entries)
    empty = household_status([])

    assert (status.region_code, status.enrolled, status.grant_amount, status.graduated_on) == (
        "6411", {"p-1"}, 5_000_000, "2025-09-01")
    assert (empty.needs, empty.grant_amount, empty.graduated_on) == ({}, None, None)


def test_text_and_attributes_are_escaped_unless_already_markup() -> None:
    cell = tag("td", '<script>alert("x")</script>', title='"><b>', data_need="a&b")

    assert cell == ('<td title="&quot;&gt;&lt;b&gt;" data-need="a&amp;b">'
                    '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;</td>')
    assert join([Html("<br>"), "<br>"]) == "<br>&lt;br&gt;"


def test_indonesian_is_the_default_and_english_is_asked_for() -> None:
    assert [i18n.lang_of(v) for v in (None, "", "id", "en", "fr", "EN")] == [
        "id", "id", "id", "en", "id", "id"]


def test_summaries_are_rebuilt_in_the_readers_language_else_the_stored_one_is_shown() -> None:
    data = {"household_ref": "h-1", "region_code": "6411", "village": "Long Apari",
            "needs": [WATER, SANITATION]}

    assert i18n.summary("social.housing.flagged.v1", data, "id", "stored") == (
        "Ditandai untuk Dinas PUPR: sambungan air bersih, sanitasi (jamban sehat) "
        "(desa/kelurahan Long Apari)")
    assert i18n.summary("social.housing.flagged.v1", data, "en", "stored").startswith(
        "Flagged for Public Works: clean-water connection")
    assert i18n.summary("social.housing.flagged.v1", {"needs": []}, "id", "stored") == "stored"
    assert i18n.summary("health.visit.v1", data, "id", "stored") == "stored"
    assert i18n.event_label("health.visit.v1", "id") == "health.visit.v1"


def test_times_are_wita_and_numbers_use_the_readers_decimal_mark() -> None:
    assert i18n.clock("2020-01-06T15:59:00+00:00", "id") == "6 Jan 2020 23:59"
    assert i18n.clock("2020-01-06T16:00:00+00:00", "id") == "7 Jan 2020 00:00"
    assert i18n.day("2025-08-17", "id") == "17 Agu 2025"
    assert i18n.month("2025-05", "id") == "Mei 2025" and i18n.month("2025-05", "en") == "May 2025"
    assert (i18n.number(62.5, "id"), i18n.number(62.5, "en"), i18n.number(85.0, "id")) == (
        "62,5", "62.5", "85")
    assert i18n.rupiah(5_000_000) == "Rp 5.000.000"


def test_every_agency_event_type_has_a_label_and_summary_in_both_languages() -> None:
    agency_types = {t for t, spec in EVENTS.items() if TOPICS[spec.topic].kind is Kind.AGENCY}

    assert agency_types <= set(i18n.EVENTS)
    assert all(all(texts) for pair in i18n.EVENTS.values() for texts in pair)


@pytest.mark.parametrize(("largest", "top", "step"), [
    (0, 4, 1), (1, 4, 1), (4, 4, 1), (5, 6, 2), (8, 8, 2), (9, 10, 5), (100, 100, 50),
    (130, 150, 50), (59_000, 60_000, 20_000),
])
def test_chart_axis_ends_at_or_above_the_largest_count_on_a_round_step(
    largest: int, top: int, step: int,
) -> None:
    assert _nice_top(largest) == (top, step)


def test_chart_draws_one_bar_per_kabupaten_kota_and_stage_even_when_all_are_zero() -> None:
    svg = funnel_chart(complete_funnel({"6411": {"registered": 3}}), "id")

    assert svg.startswith('<svg role="img"') and svg.count("<rect ") == 10 * 6
    assert "<title>Mahakam Ulu · Terdaftar: 3</title>" in svg
