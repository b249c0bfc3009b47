from pathlib import Path

import pytest

from contracts.catalogue import EVENTS, TOPICS
from contracts.export import export, topic_fields, topic_fields_markdown

pytestmark = pytest.mark.unit

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "topic-fields.md"
IDENTITY_FIELDS = {"nik", "kk_number"}


def test_committed_topic_fields_match_the_contracts() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == topic_fields_markdown(), (
        "docs/topic-fields.md is stale: regenerate it with "
        "`sinergi contracts export --out build/contracts` and copy topic-fields.md to docs/")


def test_no_identity_number_field_on_a_topic_without_identity_numbers() -> None:
    fields = topic_fields()
    leaks = [(e.topic, e.type, name) for e in EVENTS.values()
             if not TOPICS[e.topic].identity_numbers
             for name, _ in fields[e.type] if name.rsplit(".", 1)[-1] in IDENTITY_FIELDS]
    assert leaks == []


def test_nested_identity_numbers_are_listed_on_the_intake_topic() -> None:
    names = [name for name, _ in topic_fields()["intake.household.v1"]]
    assert "kk_number" in names and "members[].nik" in names


def test_every_topic_and_event_type_is_in_the_document() -> None:
    text = topic_fields_markdown()
    assert all(f"## `{t}`" in text for t in TOPICS)
    assert all(f"### `{e}`" in text for e in EVENTS)


def test_export_writes_the_topic_fields(tmp_path: Path) -> None:
    written = export(tmp_path)
    assert tmp_path / "topic-fields.md" in written
    assert (tmp_path / "topic-fields.md").read_text(encoding="utf-8") == topic_fields_markdown()
