"""The published contracts as files: a JSON Schema per event type, the catalogue, AsyncAPI 3.0
and the per-topic field list (topic-fields.md) that data minimisation is reviewed against.

Everything here is generated from the code in this package; nothing is written by hand.
The AsyncAPI document is built from the topic catalogue rather than by FastStream's
generator: FastStream documents the subscribers registered on one service's broker, and
ours receive raw bytes (the codec validates them) while publishing goes through the
outbox relay, so it would show one service's topics with ``binary`` payloads and no
event types, writers, keys or CloudEvents headers.
"""

import json
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from pydantic.json_schema import models_json_schema

from contracts.catalogue import EVENTS, TOPICS, Kind, TopicSpec
from contracts.envelope import REQUIRED_HEADERS, Envelope

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
KAFKA_BINDING = "0.5.0"
DLQ_HEADERS = {
    "dlq_reason": "Why the record was refused: malformed_json, invalid_envelope, unknown_type, "
                  "wrong_topic, schema_violation, oversize, handler_error or a domain reason",
    "dlq_detail": "The failing fields or the error, for a person",
    "dlq_topic": "Topic the record was refused from",
    "dlq_partition": "Its partition there",
    "dlq_offset": "Its offset there",
    "dlq_consumer_group": "The consumer group that refused it",
    "dlq_first_failure": "When processing first failed (ISO 8601, UTC)",
    "dlq_attempts": "How many attempts were made",
}
REPLAY_HEADER = "sinergi_replay_of"
OPTIONAL_DLQ_HEADERS = {
    "dlq_value_omitted": "Only when the record was too large to send again with these "
                         "headers: its value's size in bytes. The letter has no value; the "
                         "original stays at dlq_topic/dlq_partition/dlq_offset for that "
                         "topic's retention",
}


def release() -> str:
    try:
        return version("sinergi")
    except PackageNotFoundError:
        return "0.0.0"


def event_schema(event_type: str) -> dict[str, Any]:
    """The standalone JSON Schema (2020-12) of one event type's data."""
    spec = EVENTS[event_type]
    schema = spec.model.model_json_schema()
    return {"$schema": JSON_SCHEMA_DIALECT, "$id": f"urn:sinergi:event:{event_type}",
            "x-sinergi-type": event_type, "x-sinergi-topic": spec.topic, **schema}


def catalogue() -> dict[str, Any]:
    """Topics and the event types each carries, as plain data."""
    return {
        "release": release(),
        "topics": {
            t.name: {"kind": t.kind.value, "key": t.key, "partitions": t.partitions,
                     "readers": list(t.readers), "writers": list(t.writers),
                     "identity_numbers": t.identity_numbers,
                     "events": [e.type for e in EVENTS.values() if e.topic == t.name]}
            for t in TOPICS.values()
        },
        "events": {e.type: e.topic for e in EVENTS.values()},
    }


def cloudevents_headers_schema() -> dict[str, Any]:
    """The ``ce_*`` Kafka headers (CloudEvents 1.0, binary content mode), all strings."""
    properties: dict[str, Any] = {}
    for name, prop in Envelope.model_json_schema()["properties"].items():
        scalar = next((p for p in prop.get("anyOf", [prop]) if p.get("type") != "null"), prop)
        header = {k: v for k, v in scalar.items() if k in ("type", "format", "pattern",
                                                              "minLength", "maxLength", "const")}
        properties[f"ce_{name}"] = {"title": prop.get("title", name), **header}
    properties["content-type"] = {"type": "string", "const": "application/json"}
    return {"type": "object", "properties": properties, "required": list(REQUIRED_HEADERS)}


def dead_letter_headers_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "The refused record's own headers (ce_* if it had them) plus these.",
        "properties": {name: {"type": "string", "description": text}
                       for name, text in {**DLQ_HEADERS, **OPTIONAL_DLQ_HEADERS}.items()},
        "required": list(DLQ_HEADERS),
    }


def asyncapi_document() -> dict[str, Any]:
    """AsyncAPI 3.0: every catalogue topic as a channel, every event type as a message."""
    _, defs = models_json_schema(
        [(e.model, "validation") for e in EVENTS.values()],
        ref_template="#/components/schemas/{model}",
    )
    schemas: dict[str, Any] = {
        "CloudEventsHeaders": cloudevents_headers_schema(),
        "DeadLetterHeaders": dead_letter_headers_schema(),
        **defs["$defs"],
    }
    messages = {e.type: _message(e.type) for e in EVENTS.values()}
    messages["dead_letter"] = {
        "name": "dead_letter", "title": "A refused record",
        "summary": "The original key and value unchanged, with the reason in dlq_* headers.",
        "headers": {"$ref": "#/components/schemas/DeadLetterHeaders"},
        "payload": {"description": "The refused record's value, byte for byte"},
    }
    channels = {t.name: _channel(t) for t in TOPICS.values()}
    operations: dict[str, Any] = {}
    for t in TOPICS.values():
        refs = [{"$ref": f"#/channels/{t.name}/messages/{m}"} for m in channels[t.name]["messages"]]
        operations[f"send.{t.name}"] = {
            "action": "send", "channel": {"$ref": f"#/channels/{t.name}"},
            "summary": f"Published by {', '.join(t.writers)}", "messages": refs,
        }
        for reader in t.readers:
            operations[f"receive.{t.name}.{reader}"] = {
                "action": "receive", "channel": {"$ref": f"#/channels/{t.name}"},
                "summary": f"Read by {reader}", "messages": refs,
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Sinergi",
            "version": release(),
            "description": "Events East Kalimantan's agencies exchange about one household's "
                           "case. Every record carries a CloudEvents 1.0 envelope in ce_* "
                           "headers; the payload is the event's data as JSON.",
        },
        "defaultContentType": "application/json",
        "servers": {"kafka": {
            "host": "{bootstrap}", "protocol": "kafka",
            "description": "The deployment's brokers (KAFKA_BOOTSTRAP_SERVERS)",
            "variables": {"bootstrap": {"default": "127.0.0.1:9092"}},
        }},
        "channels": channels,
        "operations": operations,
        "components": {"schemas": schemas, "messages": messages},
    }


def _message(event_type: str) -> dict[str, Any]:
    spec = EVENTS[event_type]
    doc = (spec.model.__doc__ or spec.model.__name__).strip()
    return {
        "name": event_type,
        "title": spec.model.__name__,
        "summary": doc.splitlines()[0],
        "contentType": "application/json",
        "headers": {"$ref": "#/components/schemas/CloudEventsHeaders"},
        "payload": {"$ref": f"#/components/schemas/{spec.model.__name__}"},
        "correlationId": {"location": "$message.header#/ce_correlationid"},
        "bindings": {"kafka": {"key": {"type": "string", "description": TOPICS[spec.topic].key},
                               "bindingVersion": KAFKA_BINDING}},
    }


def _channel(topic: TopicSpec) -> dict[str, Any]:
    if topic.kind is Kind.DEAD_LETTER:
        names = ["dead_letter"]
    else:
        names = [e.type for e in EVENTS.values() if e.topic == topic.name]
    privacy = (" Carries NIK/KK identity numbers: only the social service may read it."
               if topic.identity_numbers else "")
    return {
        "address": topic.name,
        "description": f"{topic.description}. Key: {topic.key}.{privacy}",
        "messages": {n: {"$ref": f"#/components/messages/{n}"} for n in names},
        "bindings": {"kafka": {
            "topic": topic.name, "partitions": topic.partitions,
            "topicConfiguration": {"retention.ms": topic.retention_ms},
            "bindingVersion": KAFKA_BINDING,
        }},
        "x-sinergi-kind": topic.kind.value,
        "x-sinergi-key": topic.key,
        "x-sinergi-writers": list(topic.writers),
        "x-sinergi-readers": list(topic.readers),
        "x-sinergi-identity-numbers": topic.identity_numbers,
    }


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_snapshot(out: Path) -> list[Path]:
    """What compatibility is checked against: the schemas and the catalogue."""
    schemas = out / "schemas"
    if schemas.exists():
        for stale in schemas.glob("*.json"):
            stale.unlink()  # a type removed since the last snapshot must not linger
    written = []
    for event_type in EVENTS:
        written.append(schemas / f"{event_type}.json")
        write_json(written[-1], event_schema(event_type))
    written.append(out / "catalogue.json")
    write_json(written[-1], catalogue())
    return written


def topic_fields() -> dict[str, list[tuple[str, str]]]:
    """Every field of every event type, nested ones as ``parent.child`` (``[]`` for list
    items), with its JSON type: ``{event type: [(field, type), ...]}``."""
    out = {}
    for spec in EVENTS.values():
        schema = spec.model.model_json_schema()
        out[spec.type] = _fields(schema, schema.get("$defs", {}), "")
    return out


def _fields(schema: dict[str, Any], defs: dict[str, Any], prefix: str) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for name, prop in schema.get("properties", {}).items():
        path = f"{prefix}{name}"
        rows.append((path, _type(prop, defs)))
        nested = prop.get("items", prop)
        ref = nested.get("$ref")
        if ref is not None and "properties" in defs[ref.rsplit("/", 1)[-1]]:
            suffix = "[]." if "items" in prop else "."
            rows += _fields(defs[ref.rsplit("/", 1)[-1]], defs, path + suffix)
    return rows


def _type(prop: dict[str, Any], defs: dict[str, Any]) -> str:
    if "anyOf" in prop:
        return " or ".join(_type(p, defs) for p in prop["anyOf"])
    if "$ref" in prop:
        name = prop["$ref"].rsplit("/", 1)[-1]
        target = defs[name]
        if "enum" in target:
            return "enum " + name + " (" + ", ".join(map(str, target["enum"])) + ")"
        return f"object {name}"
    if prop.get("type") == "array":
        return f"array of {_type(prop.get('items', {}), defs)}"
    kind = str(prop.get("type", "any"))
    return f"{kind} ({prop['format']})" if "format" in prop else kind


def topic_fields_markdown() -> str:
    """topic-fields.md: per topic, who reads and writes it, identity numbers, every field."""
    fields = topic_fields()
    lines = ["# Fields per topic", "",
             "Generated by `sinergi contracts export` from the contracts package; do not edit.",
             "A field is on a topic only if an event type published there declares it.", ""]
    for t in TOPICS.values():
        lines += [f"## `{t.name}`", "", f"{t.description}.", "",
                  f"- kind: {t.kind.value}; key: {t.key}",
                  f"- writers: {', '.join(t.writers)}",
                  f"- readers: {', '.join(t.readers)}",
                  f"- identity numbers (NIK/KK): {'yes' if t.identity_numbers else 'no'}", ""]
        if t.kind is Kind.DEAD_LETTER:
            lines += ["Refused records byte for byte, with `dlq_*` headers: the fields of the "
                      "topics they were refused from.", ""]
        for e in (e for e in EVENTS.values() if e.topic == t.name):
            lines += [f"### `{e.type}`", "", "| field | type |", "| --- | --- |"]
            lines += [f"| `{name}` | {kind} |" for name, kind in fields[e.type]]
            lines.append("")
    return "\n".join(lines)


def export(out: Path) -> list[Path]:
    """The snapshot's files plus the AsyncAPI document, the CloudEvents headers schema and
    the per-topic field list."""
    written = write_snapshot(out)
    write_json(out / "asyncapi.json", asyncapi_document())
    write_json(out / "cloudevents-headers.json",
               {"$schema": JSON_SCHEMA_DIALECT, **cloudevents_headers_schema()})
    (out / "topic-fields.md").write_text(topic_fields_markdown(), encoding="utf-8")
    return [*written, out / "asyncapi.json", out / "cloudevents-headers.json",
            out / "topic-fields.md"]
