"""``analytics-bus setup|status``: create/update the JetStream stream and consumer, or
show their state (backlog, bytes, lag, in flight, redeliveries, replicas).

NATS servers from ``--nats`` or ``ANALYTICS_TRANSPORT``; other settings from
``ANALYTICS_BUS_*``. ``--json`` prints one machine-readable line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from .._console import console_script
from .._errors import AnalyticsError

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="analytics-bus", description="Manage the analytics NATS JetStream stream."
    )
    p.add_argument("command", choices=["setup", "status"])
    p.add_argument("--nats", default=None, help="NATS URLs, comma-separated ($ANALYTICS_TRANSPORT)")
    p.add_argument(
        "--replicas", type=int, default=None, help="stream replicas (default: 1, or 3 on a cluster)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON line")
    return p


def bus_extra_present(prog: str) -> bool:
    """nats-py is the optional ``bus`` extra: without it, say so instead of a traceback."""
    try:
        import nats  # noqa: F401, PLC0415 - only probing that the extra is installed
    except ImportError:
        from .._extras import install_hint  # noqa: PLC0415

        sys.stderr.write(f"{prog}: nats-py is missing: {install_hint('bus')}\n")
        return False
    return True


@console_script
def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not bus_extra_present("analytics-bus"):
        return 2
    from ..bus.config import BusConfig  # noqa: PLC0415 - keep --help fast
    from ..bus.stream import bus_status, setup_bus  # noqa: PLC0415

    overrides: dict[str, object] = {}
    if args.nats:
        overrides["servers"] = tuple(u.strip() for u in args.nats.split(",") if u.strip())
    if args.replicas is not None:
        overrides["replicas"] = args.replicas
    try:
        bus = BusConfig.from_env(None, **overrides)
        status = asyncio.run(setup_bus(bus) if args.command == "setup" else bus_status(bus))
    except AnalyticsError as err:
        sys.stderr.write(f"analytics-bus: {err}\n")
        return 1
    if args.json:
        sys.stdout.write(json.dumps(status.as_dict()) + "\n")
        return 0
    if args.command == "setup":
        sys.stdout.write(f"stream {status.stream} and consumer {status.consumer} are ready\n")
    width = max(len(k) for k in status.as_dict())
    for key, value in status.as_dict().items():
        sys.stdout.write(f"{key:<{width}}  {value}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
