"""``analytics-collect``: the HTTP collector, and ``analytics-collect schema`` (JSON Schema).

Serve (the fixed interface deploy scripts rely on)::

    ANALYTICS_COLLECT_TOKENS='tok…=platform|auth,tok2…=*' \\
        analytics-collect --host 0.0.0.0 --port 8094 --database-url postgresql://…

The database comes from ``--database-url``, else ``DATABASE_URL``, else
``PLATFORM_DATABASE_URL``; ``--transport nats://…`` publishes to the bus instead. Tokens
come from the environment (or ``--tokens-file``), never from the command line, where they
would show in ``ps`` and shell history. ``--events-module`` imports a service's own event
classes so they are accepted like the seed's.

``analytics-collect schema [DIR]`` writes ``batch.json`` and one ``<type>.json`` per event
type (draft 2020-12) to ``DIR``, or prints the batch schema.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import sys
from pathlib import Path

from .._console import console_script
from .._dburl import resolve_database_url
from .._errors import ConfigurationError
from .._extras import install_hint
from ._maintaining import MaintainedApp, add_no_maintain

__all__ = ["main"]

TOKENS_VARIABLE = "ANALYTICS_COLLECT_TOKENS"


def _serve_parser() -> argparse.ArgumentParser:
    from ..collect import config as c  # noqa: PLC0415 - no FastAPI needed for this

    p = argparse.ArgumentParser(
        prog="analytics-collect",
        description="Collect events over HTTP (POST /events/batch, the seed family's format). "
        "Subcommand: 'analytics-collect schema [DIR]' exports the JSON Schemas.",
        epilog=f"Environment: {TOKENS_VARIABLE} (TOKEN=SERVICE[|SERVICE...],... ; * = any "
        "service), DATABASE_URL, then PLATFORM_DATABASE_URL.",
    )
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=c.DEFAULT_PORT, help="port (default 8094)")
    p.add_argument("--database-url", default=None, help="PostgreSQL URL")
    p.add_argument("--transport", default=None, help="nats://… URLs: publish to the bus")
    p.add_argument("--tokens-file", type=Path, default=None, help="tokens, one entry a line")
    p.add_argument(
        "--anonymous-service",
        default=None,
        help="OPT-IN: accept requests without a token (the seed's clients) as this service",
    )
    p.add_argument("--events-module", action="append", default=[], help="import event classes")
    p.add_argument("--spool-dir", type=Path, default=None, help="fsync'd spool when DB is down")
    p.add_argument("--max-body-bytes", type=int, default=c.DEFAULT_MAX_BODY_BYTES)
    p.add_argument("--max-events", type=int, default=c.DEFAULT_MAX_EVENTS)
    p.add_argument(
        "--rate",
        type=float,
        default=c.DEFAULT_RATE_EVENTS_PER_SEC,
        help="events/s per token (0: no limit)",
    )
    p.add_argument("--pool-size", type=int, default=c.DEFAULT_POOL_SIZE)
    p.add_argument(
        "--segment-personal-data",
        choices=["drop", "keep"],
        default="drop",
        help="Segment traits that identify a person, and context.ip (default: drop)",
    )
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    add_no_maintain(p)
    return p


def _schema(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="analytics-collect schema")
    p.add_argument("directory", nargs="?", type=Path, default=None)
    p.add_argument("--events-module", action="append", default=[])
    args = p.parse_args(argv)
    for module in args.events_module:
        importlib.import_module(module)
    from ..events.jsonschema import batch_schema, schema_files  # noqa: PLC0415
    from ..events.wire import wire_catalogue  # noqa: PLC0415

    catalogue = wire_catalogue()
    if args.directory is None:
        sys.stdout.write(json.dumps(batch_schema(catalogue), indent=2) + "\n")
        return 0
    args.directory.mkdir(parents=True, exist_ok=True)
    files = schema_files(catalogue)
    for name, schema in files.items():
        (args.directory / name).write_text(json.dumps(schema, indent=2) + "\n")
    sys.stdout.write(f"wrote {len(files)} schemas to {args.directory}\n")
    return 0


def _tokens_spec(path: Path | None) -> str:
    parts = [os.environ.get(TOKENS_VARIABLE, "")]
    if path is not None:
        lines = path.read_text().splitlines()
        parts.extend(line.strip() for line in lines if line.strip() and not line.startswith("#"))
    return ",".join(p for p in parts if p)


#: Allocations (minus frees) between two collections of the youngest generation. A batch
#: request allocates and frees thousands of objects; at CPython's default of 700 the
#: collector ran several young collections per request, each walking the request's
#: live objects again (0.3-0.8 µs of CPU per event, benchmark 6). Older generations
#: keep their default ratios, so garbage in reference cycles is still found soon.
GC_YOUNG_THRESHOLD = 20_000


def _settle_heap() -> None:
    """Before serving: what startup built (the app, its routes and schemas, the event
    registry) is moved out of the collector's reach, so no collection walks it again,
    and young collections run less often (:data:`GC_YOUNG_THRESHOLD`)."""
    gc.collect()
    gc.freeze()
    _young, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


@console_script
def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["schema"]:
        return _schema(argv[1:])
    args = _serve_parser().parse_args(argv)
    for module in args.events_module:
        importlib.import_module(module)
    database_url = None if args.transport else resolve_database_url(args.database_url)
    if not database_url and not args.transport:
        sys.stderr.write(
            "analytics-collect: no database: pass --database-url, set DATABASE_URL "
            "(or PLATFORM_DATABASE_URL), or --transport nats://...\n"
        )
        return 2
    try:
        import uvicorn  # noqa: PLC0415 - optional extra: report it instead of a traceback

        from ..collect.app import create_collector  # noqa: PLC0415
        from ..collect.config import CollectorConfig  # noqa: PLC0415
        from ..collect.tokens import TokenTable  # noqa: PLC0415

        config = CollectorConfig(
            tokens=TokenTable.parse(
                _tokens_spec(args.tokens_file), anonymous_service=args.anonymous_service
            ),
            max_body_bytes=args.max_body_bytes,
            max_events=args.max_events,
            rate_events_per_sec=args.rate,
            pool_size=args.pool_size,
            spool_dir=args.spool_dir,
            segment_personal_data=args.segment_personal_data,
        )
        app = create_collector(config, database_url=database_url, transport=args.transport)
    except ImportError as err:
        extra = "bus" if err.name == "nats" else "collect"
        sys.stderr.write(f"analytics-collect: {err.name} is missing: {install_hint(extra)}\n")
        return 2
    except (ConfigurationError, OSError) as err:
        sys.stderr.write(f"analytics-collect: {err}\n")
        return 2
    served = app if args.no_maintain else MaintainedApp(app, database_url, host="collect")
    _settle_heap()
    uvicorn.run(served, host=args.host, port=args.port, log_level=args.log_level)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
