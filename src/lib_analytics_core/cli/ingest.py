"""``analytics-ingest``: the writer service behind the NATS bus.

Runs ``--concurrency`` pull loops in this process against the shared durable consumer
(scale out by running more processes or pods, each with this command). SIGTERM and
SIGINT stop it gracefully: in-flight batches are written and acknowledged first.

The database comes from ``--database-url`` or ``DATABASE_URL``; the NATS servers from
``--nats`` or ``ANALYTICS_TRANSPORT``; further bus settings from ``ANALYTICS_BUS_*``
(see :meth:`lib_analytics_core.bus.BusConfig.from_env`). ``--metrics-port`` serves
Prometheus metrics (the ``prometheus`` extra).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys

from .._console import console_script
from .._dburl import resolve_database_url
from .._errors import AnalyticsError
from ..schema.maintainer import hosted_maintainer
from ._maintaining import add_no_maintain
from .bus import bus_extra_present

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    from .._dburl import DATABASE_URL_VARIABLES  # noqa: PLC0415
    from ..bus.config import BUS_ENV_VARIABLES  # noqa: PLC0415 - imports no nats-py

    p = argparse.ArgumentParser(
        prog="analytics-ingest",
        description="Store analytics events from the NATS JetStream bus in PostgreSQL. "
        "The database must be migrated first (analytics-migrate, same URL).",
        epilog="Environment (flags win): "
        + ", ".join((*DATABASE_URL_VARIABLES, *BUS_ENV_VARIABLES))
        + ". ANALYTICS_TRANSPORT holds the nats:// URLs; see docs/scaling.md.",
    )
    p.add_argument("--database-url", default=None, help="PostgreSQL URL (default: $DATABASE_URL)")
    p.add_argument("--nats", default=None, help="NATS URLs, comma-separated ($ANALYTICS_TRANSPORT)")
    p.add_argument("--concurrency", type=int, default=1, help="pull loops in this process")
    p.add_argument(
        "--no-setup", action="store_true", help="do not create/update the stream and consumer"
    )
    p.add_argument("--metrics-port", type=int, default=None, help="serve Prometheus metrics")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    add_no_maintain(p)
    return p


@console_script
def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(message)s"
    )
    if not bus_extra_present("analytics-ingest"):
        return 2
    database_url = resolve_database_url(args.database_url)
    if not database_url:
        sys.stderr.write("analytics-ingest: no database: pass --database-url or set DATABASE_URL\n")
        return 2
    try:
        from ..bus.config import BusConfig  # noqa: PLC0415 - keep --help fast
        from ..bus.ingest import IngestConfig, IngestService  # noqa: PLC0415

        overrides: dict[str, object] = {}
        if args.nats:
            overrides["servers"] = tuple(u.strip() for u in args.nats.split(",") if u.strip())
        config = IngestConfig(
            database_url=database_url,
            bus=BusConfig.from_env(None, **overrides),
            concurrency=args.concurrency,
            setup=not args.no_setup,
        )
        service = IngestService(config)
    except AnalyticsError as err:
        sys.stderr.write(f"analytics-ingest: {err}\n")
        return 2
    if args.metrics_port is not None:
        try:
            from ..bus.metrics import serve_ingest_metrics  # noqa: PLC0415 - optional extra

            serve_ingest_metrics(service, args.metrics_port)
        except ImportError as err:
            sys.stderr.write(f"analytics-ingest: {err}\n")
            return 2

    async def _run() -> None:
        import signal  # noqa: PLC0415

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, service.stop)
        maintainer = None if args.no_maintain else database_url
        async with hosted_maintainer(maintainer, host="ingest"):
            await service.run()

    asyncio.run(_run())
    sys.stdout.write(json.dumps({"analytics_ingest": service.stats().as_dict()}) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
