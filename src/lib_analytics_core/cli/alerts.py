"""``analytics-alerts``: evaluate the SLO and threshold rules of an alerting file.

Commands::

    analytics-alerts check    --config alerts.toml          # parse and check the file only
    analytics-alerts evaluate --config alerts.toml [--at 2026-12-07T12:00:00Z]
    analytics-alerts run      --config alerts.toml [--interval 60]

``evaluate`` evaluates every rule once as of ``--at`` (default now), records and delivers
what changed, and prints one JSON line per firing alert (name, severity, burn rates per
window or the threshold's value, since). ``run`` does that every ``--interval`` seconds
until SIGTERM/SIGINT. The database comes from ``--database-url``, else ``DATABASE_URL``,
else ``PLATFORM_DATABASE_URL``; the evaluator writes its state tables (migration 0017),
so it needs a login that may, not the API's read-only one.

Exit codes: 0 success; 1 evaluation failed (database error); 2 bad usage or a mistake in
the alerting file (reported with its line, before anything runs); 3 database
unreachable.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import signal
import sys
from collections.abc import Sequence

from .._dburl import resolve_database_url
from .._errors import AnalyticsError, ConfigurationError, DatabaseUnavailableError
from .._extras import install_hint
from ..alerts.engine import DEFAULT_INTERVAL_S, evaluate_once, run
from ..alerts.rules import AlertConfig, load_config

__all__ = ["main"]


def _timestamp(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 timestamp: {text!r}") from err
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give a time zone (Z or +00:00): {text!r}")
    return value.astimezone(dt.UTC)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="analytics-alerts",
        description="Evaluate SLO burn-rate and threshold alerts over the stored events.",
        epilog="Environment: DATABASE_URL, then PLATFORM_DATABASE_URL (if --database-url is "
        "not given). File format: docs/alerts.md.",
    )
    sub = p.add_subparsers(dest="command", required=True)
    for name, text in (
        ("check", "parse and check the alerting file; evaluate nothing"),
        ("evaluate", "evaluate every rule once, deliver changes, print firing alerts"),
        ("run", "evaluate every --interval seconds until stopped"),
    ):
        c = sub.add_parser(name, help=text, description=text)
        c.add_argument("--config", required=True, help="the alerting file (TOML)")
        if name == "check":
            continue
        c.add_argument("--database-url", help="PostgreSQL URL (default: $DATABASE_URL)")
        if name == "evaluate":
            c.add_argument("--at", type=_timestamp, help="evaluate as of this time (ISO 8601)")
            c.add_argument(
                "--no-deliver", action="store_true", help="record changes, send no webhooks"
            )
        else:
            c.add_argument(
                "--interval",
                type=float,
                default=DEFAULT_INTERVAL_S,
                help="seconds between evaluations (default 60)",
            )
    return p


async def _evaluate(url: str, config: AlertConfig, at: dt.datetime | None, deliver: bool) -> int:
    result = await evaluate_once(url, config, at=at, deliver=deliver)
    for alert in result.firing:
        print(json.dumps(alert.as_json(), sort_keys=True), flush=True)
    return 0


async def _run(url: str, config: AlertConfig, interval: float) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    await run(url, config, interval_s=interval, stop=stop)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigurationError as err:
        print(f"analytics-alerts: {err}", file=sys.stderr)
        return 2
    if args.command == "check":
        print(
            f"{args.config}: {len(config.slos)} SLOs, {len(config.thresholds)} threshold "
            f"rules, {len(config.webhooks)} webhooks: OK"
        )
        return 0
    url = resolve_database_url(args.database_url)
    if not url:
        print(
            "analytics-alerts: no database: pass --database-url or set DATABASE_URL",
            file=sys.stderr,
        )
        return 2
    if args.command == "run" and not args.interval > 0:
        print("analytics-alerts: --interval must be positive", file=sys.stderr)
        return 2
    if config.webhooks and not getattr(args, "no_deliver", False):
        try:
            import httpx  # noqa: F401, PLC0415 - only to fail before anything runs
        except ImportError:
            print(
                "analytics-alerts: delivering webhooks needs httpx, the 'alerts' extra: "
                + install_hint("alerts"),
                file=sys.stderr,
            )
            return 2
    try:
        if args.command == "evaluate":
            return asyncio.run(_evaluate(url, config, args.at, not args.no_deliver))
        return asyncio.run(_run(url, config, args.interval))
    except DatabaseUnavailableError as err:
        print(f"analytics-alerts: database unreachable: {err}", file=sys.stderr)
        return 3
    except AnalyticsError as err:
        print(f"analytics-alerts: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
