"""One registry: the seed's events are written once (as classes); every list is derived.

The issue counted five hand-written lists of the 29 events (the catalogue, the
``AnalyticsEvent`` namespace, ``ALL``, ``__all__``, the docs). These tests fail if any of
them comes back, and check that everything derived agrees with the registry.
"""

from __future__ import annotations

import re
from pathlib import Path

import lib_analytics_core as lac
from lib_analytics_core import AnalyticsEvent
from lib_analytics_core.events.base import events_defined_in, registered_event_types
from lib_analytics_core.events.jsonschema import catalogue_table, schema_files
from lib_analytics_core.events.wire import wire_catalogue

SRC = Path(lac.__file__).parent
ROOT = SRC.parent.parent
NAMES = [cls.__name__ for cls in AnalyticsEvent.ALL]


def test_the_catalogue_is_derived_from_the_registry() -> None:
    assert len(AnalyticsEvent.ALL) == 29
    assert events_defined_in("lib_analytics_core.events.catalog") == AnalyticsEvent.ALL
    registry = registered_event_types()
    for cls in AnalyticsEvent.ALL:
        assert registry[cls.event_type] is cls
        assert getattr(AnalyticsEvent, cls.__name__) is cls is getattr(lac, cls.__name__)
        assert cls.__name__ in lac.__all__
    assert (
        AnalyticsEvent.TaskCreated(
            task_id=__import__("uuid").uuid4(), user_id=__import__("uuid").uuid4(), command="ls"
        ).event_type
        == "task_created"
    )
    assert not hasattr(lac, "ALL")  # the namespace's attribute, not a package export


def test_no_second_hand_written_list_of_the_events() -> None:
    """Each seed class name appears in the library's source once: its ``class`` line
    (a mention in prose or a use elsewhere is fine; a list of names is not)."""
    catalog = (SRC / "events" / "catalog.py").read_text()
    init = (SRC / "__init__.py").read_text()
    for name in NAMES:
        assert len(re.findall(rf"^class {name}\(Event\):", catalog, re.M)) == 1
        # a bare name on its own line, quoted or not, is how a hand-written list looks
        listed = re.compile(rf'^\s*"?{name}"?\s*[,=]', re.M)
        assert not listed.search(catalog), f"{name} listed in catalog.py"
        assert not listed.search(init), f"{name} listed in __init__.py"


def test_the_docs_table_is_the_generated_one() -> None:
    doc = (ROOT / "docs" / "collector.md").read_text()
    begin, end = "<!-- events-table:begin -->\n", "<!-- events-table:end -->"
    table = doc[doc.index(begin) + len(begin) : doc.index(end)]
    assert table == catalogue_table(AnalyticsEvent.ALL), (
        "regenerate with: python -c 'from lib_analytics_core import AnalyticsEvent; "
        "from lib_analytics_core.events.jsonschema import catalogue_table; "
        'print(catalogue_table(AnalyticsEvent.ALL), end="")\''
    )


def test_one_schema_per_event_type_and_one_for_the_batch() -> None:
    files = schema_files(wire_catalogue(AnalyticsEvent.ALL))
    assert set(files) == {"batch.json"} | {f"{cls.event_type}.json" for cls in AnalyticsEvent.ALL}
    for name, schema in files.items():
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        if name != "batch.json":
            assert schema["$defs"][schema["$ref"].rsplit("/", 1)[1]]["properties"]["type"] == {
                "enum": [name.removesuffix(".json")]
            }
