"""JSON Schema (draft 2020-12) and the docs table, generated from the wire catalogue.

Other languages' clients validate against, or generate types from, these files; the
collector decodes with the very structs they are generated from (``events.wire``), so a
schema and the collector cannot disagree about a field's name, type, requiredness or
bounds. What JSON Schema cannot say, and the collector still refuses, is listed in
``docs/collector.md`` (an encoded event over ``max_event_bytes``, a ``1.0`` where an
integer is due: JSON Schema counts it as an integer, serde and msgspec do not).

``analytics-collect schema DIR`` writes one file per event type plus the batch's.
"""

from __future__ import annotations

import typing
from typing import Any

import msgspec

from .base import Event
from .wire import WireCatalogue

__all__ = [
    "DRAFT_2020_12",
    "batch_schema",
    "catalogue_table",
    "event_schema",
    "schema_files",
]

DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
#: Base of the ``$id`` of every generated schema (documentation, not fetched).
SCHEMA_ID_BASE = "https://lib-analytics-core.invalid/schemas/"


def _with_header(schema: dict[str, Any], name: str, title: str) -> dict[str, Any]:
    return {"$schema": DRAFT_2020_12, "$id": SCHEMA_ID_BASE + name, "title": title, **schema}


def event_schema(catalogue: WireCatalogue, event_type: str) -> dict[str, Any]:
    """The schema of one event's wire form (``{"type": event_type, …fields}``)."""
    struct = catalogue.structs[event_type]
    schema = msgspec.json.schema(struct)
    return _with_header(schema, f"{event_type}.json", f"{event_type} event")


def batch_schema(catalogue: WireCatalogue) -> dict[str, Any]:
    """The schema of ``POST /events/batch``'s body: an array of ``EnrichedEvent``."""
    schema = msgspec.json.schema(list[catalogue.envelope])  # type: ignore[name-defined]
    return _with_header(schema, "batch.json", "POST /events/batch body")


def schema_files(catalogue: WireCatalogue) -> dict[str, dict[str, Any]]:
    """File name → schema: ``batch.json`` and one ``<event_type>.json`` per type."""
    files = {"batch.json": batch_schema(catalogue)}
    for event_type in catalogue.structs:
        files[f"{event_type}.json"] = event_schema(catalogue, event_type)
    return files


def _type_name(tp: Any) -> str:
    text = repr(tp) if not isinstance(tp, type) else tp.__name__
    for noise in ("typing.", "uuid.", "datetime.", "lib_analytics_core.events.limits."):
        text = text.replace(noise, "")
    return text.replace("NoneType", "None")


def catalogue_table(classes: typing.Sequence[type[Event]]) -> str:
    """The Markdown table of ``classes`` (the docs' event list, never typed by hand)."""
    lines = [
        "| `type` | class | required fields | optional fields (default) |",
        "|---|---|---|---|",
    ]
    for cls in classes:
        hints = typing.get_type_hints(cls)
        required: list[str] = []
        optional: list[str] = []
        for f in msgspec.structs.fields(cls):
            shown = f"`{f.name}`: {_type_name(hints[f.name])}"
            if f.required:
                required.append(shown)
            else:
                default = f.default if f.default is not msgspec.NODEFAULT else f.default_factory()
                optional.append(f"{shown} ({default!r})")
        lines.append(
            f"| `{cls.event_type}` | `{cls.__name__}` | {', '.join(required) or '-'} "
            f"| {', '.join(optional) or '-'} |"
        )
    return "\n".join(lines) + "\n"
