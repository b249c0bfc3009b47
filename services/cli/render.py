"""Rendering timelines for people."""

from typing import Any

from rich.table import Table


def timeline_table(household_ref: str, entries: list[dict[str, Any]]) -> Table:
    by_id = {e["event_id"]: e for e in entries}
    table = Table(title=f"Timeline of household {household_ref}", title_justify="left")
    for column in ("time (UTC)", "agency", "event", "summary", "caused by"):
        table.add_column(column)
    for e in entries:
        cause = by_id.get(e["causation_id"] or "")
        caused_by = (
            f"{cause['type']} {cause['event_id'][:13]}" if cause
            else f"agency record {e['causation_id'][:13]}" if e["causation_id"] else ""
        )
        table.add_row(
            e["time"][:19].replace("T", " "), e["agency"], e["type"], e["summary"], caused_by
        )
    return table
