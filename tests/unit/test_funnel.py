import io

import pytest
from rich.console import Console

from contracts.regions import kaltim_regions
from services.cli.reports import funnel_table
from services.timeline.queries import STAGES, complete_funnel

pytestmark = pytest.mark.unit


def rendered(table: object) -> str:
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(table)
    return console.export_text()


def test_funnel_lists_all_ten_regions_in_bps_order_with_zeros() -> None:
    rows = complete_funnel({})
    assert [r["region_code"] for r in rows] == sorted(kaltim_regions())
    assert len(rows) == 10
    assert rows[0]["region_name"] == "Paser" and rows[-1]["region_name"] == "Bontang"
    assert all(r[stage] == 0 for r in rows for stage in STAGES)


def test_funnel_places_counts_in_their_region_and_ignores_unknown_codes() -> None:
    rows = complete_funnel({"6411": {"registered": 3, "graduated": 1}, "6499": {"registered": 7}})
    by_code = {r["region_code"]: r for r in rows}
    assert by_code["6411"]["registered"] == 3 and by_code["6411"]["graduated"] == 1
    assert by_code["6411"]["flagged"] == 0
    assert "6499" not in by_code
    assert sum(r["registered"] for r in rows) == 3


def test_funnel_table_has_a_row_per_region_and_the_province_totals() -> None:
    rows = complete_funnel({"6403": {"registered": 5, "flagged": 4}, "6472": {"registered": 2}})
    table = funnel_table(rows)
    assert table.row_count == 10
    assert [c.header for c in table.columns][2:] == list(STAGES.values())
    assert [c.footer for c in table.columns][2:4] == ["7", "4"]
    text = rendered(table)
    assert "Kutai Kartanegara" in text and "Mahakam Ulu" in text and "East Kalimantan" in text
