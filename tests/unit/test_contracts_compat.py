"""The contracts gate: export, AsyncAPI, and backward compatibility with the release snapshot."""

import copy
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from contracts import compat
from contracts.catalogue import EVENTS, TOPICS, Kind
from contracts.compat import Contracts, compare, current
from contracts.export import DLQ_HEADERS, OPTIONAL_DLQ_HEADERS, asyncapi_document, export
from services.cli import contracts_cmd
from services.cli.contracts_cmd import SNAPSHOT
from services.runtime.deadletter import DLQ_HEADERS as RUNTIME_DLQ_HEADERS
from services.runtime.deadletter import VALUE_OMITTED

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
FLAG = "social.housing.flagged.v1"


def cli() -> typer.Typer:
    app = typer.Typer()
    contracts_cmd.register(app)
    app.command()(lambda: None)  # a second command keeps "contracts" a sub-command
    return app


def changed(edit: Any) -> list[str]:
    """The incompatibilities found after ``edit`` changes a copy of the current contracts."""
    new = copy.deepcopy(current())
    edit(new)
    return [str(i) for i in compare(current(), new)]


def test_current_contracts_pass_the_check_against_the_committed_snapshot() -> None:
    result = CliRunner().invoke(cli(), ["contracts", "check"])
    assert result.exit_code == 0, result.output
    assert f"backward compatible with {SNAPSHOT}" in result.output
    assert compat.check(SNAPSHOT) == []


def test_snapshot_holds_a_schema_for_every_event_type_and_every_topic() -> None:
    snapshot = compat.load(SNAPSHOT)
    assert set(snapshot.schemas) == set(EVENTS)
    assert set(snapshot.catalogue["topics"]) == set(TOPICS)


def test_removed_field_fails_naming_type_and_field() -> None:
    def remove_village(c: Contracts) -> None:
        schema = c.schemas[FLAG]
        del schema["properties"]["village"]
        schema["required"].remove("village")

    assert changed(remove_village) == [f"{FLAG}: field village: field removed"]


def test_new_required_field_fails_but_a_new_optional_field_passes() -> None:
    def add(required: bool) -> Any:
        def edit(c: Contracts) -> None:
            c.schemas[FLAG]["properties"]["priority"] = {"type": "integer"}
            if required:
                c.schemas[FLAG]["required"].append("priority")
        return edit

    assert changed(add(required=True)) == [f"{FLAG}: field priority: new required field"]
    assert changed(add(required=False)) == []


def test_changed_type_of_a_nested_field_fails_with_its_path() -> None:
    def floor_area_as_text(c: Contracts) -> None:
        survey = c.schemas["intake.household.v1"]["$defs"]["HousingSurvey"]
        survey["properties"]["floor_area_m2"] = {"type": "string"}

    assert changed(floor_area_as_text) == [
        "intake.household.v1: field housing.floor_area_m2: type changed from number to string"
    ]


def test_removed_enum_value_fails_and_an_added_one_passes() -> None:
    def needs(values: list[str]) -> Any:
        def edit(c: Contracts) -> None:
            c.schemas[FLAG]["$defs"]["HousingNeed"]["enum"] = values
        return edit

    assert changed(needs(["clean_water_connection", "house_rehabilitation"])) == [
        f"{FLAG}: field needs[]: enum narrowed: ['sanitation'] no longer allowed"
    ]
    assert changed(needs(["clean_water_connection", "sanitation", "house_rehabilitation",
                          "electricity"])) == []


def test_optional_field_made_required_or_non_null_fails() -> None:
    def reason_required(c: Contracts) -> None:
        schema = c.schemas["intake.ticket_update.v1"]
        schema["properties"]["reason"] = {"$ref": "#/$defs/RejectionReason"}
        schema["required"].append("reason")

    assert changed(reason_required) == [
        "intake.ticket_update.v1: field reason: null no longer allowed",
        "intake.ticket_update.v1: field reason: optional field became required",
    ]


def test_tightened_bound_fails() -> None:
    def at_most_99(c: Contracts) -> None:
        c.schemas["education.attendance.alert.v1"]["properties"]["attendance_pct"]["maximum"] = 99

    assert changed(at_most_99) == [
        "education.attendance.alert.v1: field attendance_pct: maximum tightened from 100 to 99"
    ]


def test_removed_type_moved_type_and_removed_topic_fail_while_new_ones_pass() -> None:
    def catalogue_changes(c: Contracts) -> None:
        del c.schemas["education.pupil.reengaged.v1"]
        c.catalogue["events"]["social.grant.awarded.v1"] = "sinergi.social.education"
        del c.catalogue["topics"]["sinergi.intake.education"]
        c.schemas["health.child.visited.v1"] = {"type": "object"}
        c.catalogue["topics"]["sinergi.health.child"] = {"key": "household ref"}

    assert changed(catalogue_changes) == [
        "education.pupil.reengaged.v1: event type removed",
        "social.grant.awarded.v1: moved from topic sinergi.social.household to "
        "sinergi.social.education",
        "topic sinergi.intake.education: topic removed",
    ]


def test_check_of_an_exported_copy_with_a_removed_field_exits_1_naming_it(tmp_path: Path) -> None:
    export(tmp_path)
    path = tmp_path / "schemas" / f"{FLAG}.json"
    schema = json.loads(path.read_text())
    del schema["properties"]["needs"]
    schema["required"].remove("needs")
    path.write_text(json.dumps(schema))

    result = CliRunner().invoke(cli(), ["contracts", "check", "--candidate", str(tmp_path)])
    assert result.exit_code == 1
    assert f"{FLAG}: field needs: field removed" in result.output


def test_editing_a_copy_of_the_contracts_package_fails_the_check(tmp_path: Path) -> None:
    # The change an integrator fears: a field dropped from a model in the code itself.
    shutil.copytree(REPO / "contracts", tmp_path / "contracts",
                    ignore=shutil.ignore_patterns("snapshot", "__pycache__"))
    social = tmp_path / "contracts" / "events" / "social.py"
    source = social.read_text()
    edited = source.replace("    village: Village\n    needs:", "    needs:", 1)
    edited = edited.replace('    SANITATION = "sanitation"\n', "", 1)
    assert edited.count("\n") == source.count("\n") - 2
    social.write_text(edited)
    script = ("import typer\nfrom services.cli import contracts_cmd\napp = typer.Typer()\n"
              "contracts_cmd.register(app)\napp.command()(lambda: None)\napp()")
    result = subprocess.run(
        [sys.executable, "-c", script, "contracts", "check", "--snapshot", str(SNAPSHOT)],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(tmp_path)},
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{FLAG}: field village: field removed" in result.stderr
    assert f"{FLAG}: field needs[]: enum narrowed: ['sanitation'] no longer allowed" \
        in result.stderr


def test_asyncapi_lists_every_topic_and_event_type_and_every_ref_resolves() -> None:
    doc = asyncapi_document()
    assert doc["asyncapi"] == "3.0.0"
    assert {c["address"] for c in doc["channels"].values()} == set(TOPICS)
    listed = {m for c in doc["channels"].values() for m in c["messages"]}
    assert set(EVENTS) <= listed
    for event_type, spec in EVENTS.items():
        assert event_type in doc["channels"][spec.topic]["messages"]
        message = doc["components"]["messages"][event_type]
        assert message["headers"] == {"$ref": "#/components/schemas/CloudEventsHeaders"}
    for topic in TOPICS.values():
        channel = doc["channels"][topic.name]
        assert channel["x-sinergi-readers"] == list(topic.readers)
        assert channel["x-sinergi-writers"] == list(topic.writers)
        if topic.kind is Kind.DEAD_LETTER:
            assert list(channel["messages"]) == ["dead_letter"]
    refs = re.findall(r'"\$ref": "#/([^"]+)"', json.dumps(doc))
    assert refs
    for ref in refs:
        node: Any = doc
        for part in ref.split("/"):
            node = node[part]  # KeyError: a dangling reference


def test_cloudevents_and_dead_letter_headers_are_documented() -> None:
    schemas = asyncapi_document()["components"]["schemas"]
    headers = schemas["CloudEventsHeaders"]
    assert {"ce_id", "ce_type", "ce_source", "ce_subject", "ce_time", "ce_correlationid",
            "ce_causationid", "ce_specversion"} <= set(headers["properties"])
    assert "ce_causationid" not in headers["required"]
    assert tuple(DLQ_HEADERS) == RUNTIME_DLQ_HEADERS
    assert tuple(OPTIONAL_DLQ_HEADERS) == (VALUE_OMITTED,)


def test_export_writes_one_closed_schema_per_type_tagged_with_its_topic(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli(), ["contracts", "export", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    files = {p.stem for p in (tmp_path / "schemas").glob("*.json")}
    assert files == set(EVENTS)
    flag = json.loads((tmp_path / "schemas" / f"{FLAG}.json").read_text())
    assert flag["additionalProperties"] is False
    assert flag["x-sinergi-topic"] == "sinergi.social.housing"
    assert json.loads((tmp_path / "asyncapi.json").read_text())["asyncapi"] == "3.0.0"


def test_snapshot_refuses_to_overwrite_with_a_breaking_change(tmp_path: Path) -> None:
    shutil.copytree(SNAPSHOT, tmp_path / "snap")
    path = tmp_path / "snap" / "schemas" / f"{FLAG}.json"
    schema = json.loads(path.read_text())
    schema["properties"]["legacy"] = {"type": "string"}  # a field the code no longer has
    path.write_text(json.dumps(schema))

    refused = CliRunner().invoke(cli(), ["contracts", "snapshot", "--out", str(tmp_path / "snap")])
    assert refused.exit_code == 1
    assert f"{FLAG}: field legacy: field removed" in refused.output
    forced = CliRunner().invoke(cli(), ["contracts", "snapshot", "--out", str(tmp_path / "snap"),
                                        "--allow-breaking"])
    assert forced.exit_code == 0, forced.output
    assert compat.check(tmp_path / "snap") == []
