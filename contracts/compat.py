"""Is the current contract backward compatible with the last release's snapshot?

Backward compatible means a consumer built on the current contracts still reads every
event written under the last release: agency topics keep their events forever
(retention -1), so a new consumer, or an old one replaying, meets old records. With
closed models (unknown fields are refused) that rules out removing a type, a topic or a
field, a new required field, a changed field type, a removed enum value, a moved type, a
changed key and a tightened constraint. New types, topics and optional fields are fine.
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contracts.catalogue import EVENTS
from contracts.export import catalogue, event_schema

Schema = dict[str, Any]
_RAISED_IS_TIGHTER = ("minimum", "exclusiveMinimum", "minLength", "minItems")
_LOWERED_IS_TIGHTER = ("maximum", "exclusiveMaximum", "maxLength", "maxItems")
_MAX_DEPTH = 32


@dataclass(frozen=True, order=True)
class Incompatibility:
    subject: str
    """The event type or topic."""
    where: str
    """The field path (``members[].nik``), empty for the type or topic as a whole."""
    what: str

    def __str__(self) -> str:
        return f"{self.subject}: field {self.where}: {self.what}" if self.where \
            else f"{self.subject}: {self.what}"


@dataclass(frozen=True)
class Contracts:
    schemas: dict[str, Schema]
    catalogue: dict[str, Any]


def current() -> Contracts:
    return Contracts({t: event_schema(t) for t in EVENTS}, catalogue())


def load(directory: Path) -> Contracts:
    """A snapshot (or an export) written by contracts.export."""
    index = directory / "catalogue.json"
    if not index.is_file():
        raise FileNotFoundError(f"no contracts snapshot in {directory} (catalogue.json missing)")
    schemas = {p.stem: json.loads(p.read_text(encoding="utf-8"))
               for p in sorted((directory / "schemas").glob("*.json"))}
    return Contracts(schemas, json.loads(index.read_text(encoding="utf-8")))


def check(snapshot: Path) -> list[Incompatibility]:
    return compare(load(snapshot), current())


def compare(old: Contracts, new: Contracts) -> list[Incompatibility]:
    found: list[Incompatibility] = []
    old_topics, new_topics = old.catalogue["topics"], new.catalogue["topics"]
    for name, topic in old_topics.items():
        if name not in new_topics:
            found.append(Incompatibility(f"topic {name}", "", "topic removed"))
        elif topic["key"] != new_topics[name]["key"]:
            found.append(Incompatibility(f"topic {name}", "", f"key changed from "
                                         f"{topic['key']!r} to {new_topics[name]['key']!r}"))
    old_events, new_events = old.catalogue["events"], new.catalogue["events"]
    for event_type in sorted(set(old_events) | set(old.schemas)):
        if event_type not in new.schemas:
            found.append(Incompatibility(event_type, "", "event type removed"))
            continue
        before, after = old_events.get(event_type), new_events.get(event_type)
        if before and after and before != after:
            found.append(Incompatibility(event_type, "", f"moved from topic {before} to {after}"))
        if event_type in old.schemas:
            diff = _SchemaDiff(event_type, old.schemas[event_type], new.schemas[event_type])
            found.extend(diff.run())
    return sorted(set(found))


class _SchemaDiff:
    """Walks the old schema and asks, at each node, whether the new one accepts its values."""

    def __init__(self, event_type: str, old: Schema, new: Schema) -> None:
        self.event_type, self.old_root, self.new_root = event_type, old, new
        self.found: list[Incompatibility] = []

    def run(self) -> list[Incompatibility]:
        self.found = self._node(self.old_root, self.new_root, "", 0)
        return self.found

    def _problem(self, where: str, what: str) -> list[Incompatibility]:
        return [Incompatibility(self.event_type, where, what)]

    def _node(self, old: Schema, new: Schema, where: str, depth: int) -> list[Incompatibility]:
        if depth > _MAX_DEPTH:
            return []
        old_branches = _branches(self.old_root, old)
        new_branches = _branches(self.new_root, new)
        found: list[Incompatibility] = []
        for ob in old_branches:
            candidates = [nb for nb in new_branches if _accepts_kind(nb, ob)]
            if not candidates and _kind(ob) == "null":
                found += self._problem(where, "null no longer allowed")
                continue
            if not candidates:
                return self._problem(where, f"type changed from {_labels(old_branches)} "
                                            f"to {_labels(new_branches)}")
            attempts = [self._same_kind(ob, nb, where, depth) for nb in candidates]
            if all(attempts):
                found.extend(attempts[0])
        return found

    def _same_kind(self, old: Schema, new: Schema, where: str,
                   depth: int) -> list[Incompatibility]:
        found: list[Incompatibility] = []
        old_values = _values(old)
        new_values = _values(new)
        if new_values is not None:
            if old_values is None:
                allowed = sorted(map(str, new_values))
                found += self._problem(where, f"values restricted to {allowed}")
            elif removed := old_values - new_values:
                gone = sorted(map(str, removed))
                found += self._problem(where, f"enum narrowed: {gone} no longer allowed")
        if "pattern" in new and new.get("pattern") != old.get("pattern"):
            found += self._problem(where, f"pattern changed from {old.get('pattern')!r} "
                                          f"to {new['pattern']!r}")
        for key in _RAISED_IS_TIGHTER:
            if key in new and (key not in old or new[key] > old[key]):
                found += self._problem(where, f"{key} tightened from {old.get(key)} "
                                              f"to {new[key]}")
        for key in _LOWERED_IS_TIGHTER:
            if key in new and (key not in old or new[key] < old[key]):
                found += self._problem(where, f"{key} tightened from {old.get(key)} "
                                              f"to {new[key]}")
        if new.get("uniqueItems") and not old.get("uniqueItems"):
            found += self._problem(where, "items must now be unique")
        if "items" in old and "items" in new:
            found += self._node(old["items"], new["items"], f"{where}[]", depth + 1)
        if _kind(old) == "object":
            found += self._object(old, new, where, depth)
        return found

    def _object(self, old: Schema, new: Schema, where: str,
                depth: int) -> list[Incompatibility]:
        found: list[Incompatibility] = []
        old_props, new_props = old.get("properties", {}), new.get("properties", {})
        old_required, new_required = set(old.get("required", [])), set(new.get("required", []))
        for name, prop in old_props.items():
            path = f"{where}.{name}" if where else name
            if name not in new_props:
                if new.get("additionalProperties") is False:
                    found += self._problem(path, "field removed")
                continue
            found += self._node(prop, new_props[name], path, depth + 1)
        for name in sorted(new_required - old_required):
            path = f"{where}.{name}" if where else name
            what = "optional field became required" if name in old_props \
                else "new required field"
            found += self._problem(path, what)
        return found


def _resolve(root: Schema, node: Schema) -> Schema:
    seen = 0
    while "$ref" in node and seen < _MAX_DEPTH:
        target = root.get("$defs", {})[node["$ref"].rsplit("/", 1)[-1]]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        seen += 1
    return node


def _branches(root: Schema, node: Schema) -> list[Schema]:
    node = _resolve(root, node)
    for union in ("anyOf", "oneOf"):
        if union in node:
            return [b for alt in node[union] for b in _branches(root, alt)]
    if isinstance(node.get("type"), list):
        return [{**node, "type": t} for t in node["type"]]
    return [node]


def _kind(node: Schema) -> str:
    if "type" in node:
        return str(node["type"])
    if "enum" in node or "const" in node:
        return "enum"
    return "object" if "properties" in node else "any"


def _label(node: Schema) -> str:
    kind = _kind(node)
    return f"{kind}({node['format']})" if "format" in node else kind


def _labels(branches: list[Schema]) -> str:
    return " | ".join(_label(b) for b in branches)


def _accepts_kind(new: Schema, old: Schema) -> bool:
    new_kind, old_kind = _kind(new), _kind(old)
    if new_kind == "any":
        return True
    if new_kind != old_kind and not (new_kind == "number" and old_kind == "integer"):
        return False
    return "format" not in new or new.get("format") == old.get("format")


def _values(node: Schema) -> set[Any] | None:
    if "enum" in node:
        return set(map(_hashable, node["enum"]))
    if "const" in node:
        return {_hashable(node["const"])}
    return None


def _hashable(value: Any) -> Any:
    return json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else value
