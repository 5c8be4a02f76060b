# ruff: noqa: C408, PLR0912
"""Known event sets and reference aggregates computed in Python (shared by tier tests).

The reference is written independently of the SQL: it walks the raw events and builds
every aggregate column, so a test can compare the database's aggregates column by
column on any server kind.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import uuid
from typing import Any

import asyncpg

from lib_analytics_core.read import histogram as h

Event = tuple[dt.datetime, uuid.UUID, str, str, uuid.UUID | None, dict[str, Any]]

AGGREGATES = (
    "analytics_daily_active_users",
    "analytics_task_stats_daily",
    "analytics_api_latency_hourly",
    "analytics_api_latency_daily",
    "analytics_integration_health_daily",
    "analytics_auth_events_daily",
    "analytics_cocoon_activity_daily",
    "analytics_errors_hourly",
    *(
        f"analytics_api_{w}_{lv}"
        for w in ("hour", "day")
        for lv in ("total", "service", "endpoint")
    ),
    "analytics_task_durations_daily",
    "analytics_event_trends_hourly",
    "analytics_event_trends_daily",
)


def _day(t: dt.datetime) -> dt.datetime:
    return t.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _hour(t: dt.datetime) -> dt.datetime:
    return t.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


def generate(now: dt.datetime, *, days: int = 28, n: int = 3000, seed: int = 7) -> list[Event]:
    """``n`` events of every aggregated type spread over the last ``days`` days."""
    rng = random.Random(seed)
    users = [uuid.UUID(int=rng.getrandbits(128)) for _ in range(40)]
    start = now - dt.timedelta(days=days)
    span = (now - dt.timedelta(hours=1) - start).total_seconds()
    out: list[Event] = []

    def dur() -> int:
        return min(int(rng.lognormvariate(5.0, 1.6)), 10**8)

    for i in range(n):
        ts = start + dt.timedelta(seconds=rng.random() * span)
        ts = ts.replace(microsecond=0) + dt.timedelta(microseconds=i)  # unique, exact
        user: uuid.UUID | None = rng.choice(users) if rng.random() < 0.9 else None
        kind = rng.randrange(8)
        meta: dict[str, Any] = {"host": "h1"}
        svc = "platform"
        if kind in (0, 1, 2):
            svc = rng.choice(["platform", "auth", "signaling"])
            if rng.random() < 0.2:
                meta["sample_rate"] = 0.1
            data: dict[str, Any] = {
                "service": svc,
                "method": rng.choice(["GET", "POST"]),
                "endpoint": rng.choice(["/v1/tasks", "/v1/tasks/{id}", "/v1/me", "/health"]),
                "status_code": rng.choice([200, 200, 200, 201, 404, 429, 500, 503]),
                "duration_ms": dur(),
                "user_id": str(user) if user else None,
            }
            et = "api_request"
        elif kind == 3:
            et = rng.choice(
                ["task_created", "task_started", "task_completed", "task_failed", "task_cancelled"]
            )
            user = user or users[0]
            data = {"task_id": str(uuid.uuid4()), "user_id": str(user)}
            if et == "task_completed":
                data["duration_ms"] = dur()
            elif et in ("task_failed", "task_cancelled"):
                data["duration_ms"] = dur() if rng.random() < 0.7 else None
                data["error" if et == "task_failed" else "reason"] = "x"
        elif kind == 4:
            et = rng.choice(
                [
                    "integration_connected",
                    "integration_disconnected",
                    "integration_used",
                    "integration_error",
                    "oauth_flow_started",
                    "oauth_flow_completed",
                ]
            )
            data = {"provider": rng.choice(["github", "slack", "linear"])}
            if et == "integration_used":
                data.update(action="sync", duration_ms=dur(), success=rng.random() < 0.8)
            elif et == "oauth_flow_completed":
                data["success"] = rng.random() < 0.7
            elif et == "integration_error":
                data["error"] = "boom"
        elif kind == 5:
            et = rng.choice(
                [
                    "auth_login_attempt",
                    "auth_code_verified",
                    "auth_token_refresh",
                    "auth_session_validated",
                ]
            )
            data = (
                {"valid": rng.random() < 0.9}
                if et == "auth_session_validated"
                else {"success": rng.random() < 0.75, "method": "password"}
            )
        elif kind == 6:
            et = rng.choice(
                [
                    "cocoon_registered",
                    "cocoon_connected",
                    "cocoon_disconnected",
                    "cocoon_claimed",
                    "cocoon_setup_token_created",
                    "cocoon_setup_token_used",
                ]
            )
            data = {"cocoon_id": str(uuid.uuid4())}
            if et == "cocoon_disconnected":
                data["session_duration_ms"] = dur() if rng.random() < 0.8 else None
        else:
            et = "application_error"
            svc = rng.choice(["platform", "auth"])
            data = {
                "service": svc,
                "error_type": rng.choice(["DbError", "Timeout"]),
                "message": f"m{rng.randrange(10000):04d}",
            }
        data["_meta"] = meta
        if "user_id" in data and data["user_id"] is None:
            user = None
        out.append((ts, uuid.uuid4(), et, svc, user, data))
    return out


async def insert(conn: asyncpg.Connection, events: list[Event], chunk_size: int = 1000) -> None:
    """Insert rows as the writer does (its columns and JSON shape), in one statement."""
    for i in range(0, len(events), chunk_size):
        chunk = events[i : i + chunk_size]
        await conn.execute(
            "INSERT INTO analytics_events (timestamp, event_id, event_type, service, user_id, data)"
            " SELECT t, e, et, s, u, d::jsonb FROM unnest($1::timestamptz[], $2::uuid[],"
            " $3::text[], $4::text[], $5::uuid[], $6::text[]) AS x(t, e, et, s, u, d)",
            [e[0] for e in chunk],
            [e[1] for e in chunk],
            [e[2] for e in chunk],
            [e[3] for e in chunk],
            [e[4] for e in chunk],
            [json.dumps(e[5]) for e in chunk],
        )


def reference(events: list[Event]) -> dict[str, dict[tuple[Any, ...], dict[str, Any]]]:
    """Every aggregate, keyed by its group columns, computed from the raw events."""
    ref: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {a: {} for a in AGGREGATES}

    def row(agg: str, key: tuple[Any, ...], init: dict[str, Any]) -> dict[str, Any]:
        return ref[agg].setdefault(key, init)

    def lat_init() -> dict[str, Any]:
        r: dict[str, Any] = dict(
            requests=0,
            requests_estimated=0.0,
            errors_4xx=0,
            errors_5xx=0,
            duration_count=0,
            duration_sum_ms=0,
            duration_max_ms=None,
        )
        return r

    def dist_init() -> dict[str, Any]:
        return {**lat_init(), "_hist": {}}

    def add_key(r: dict[str, Any], value: float) -> None:
        k = h.bucket_key(value)
        if k is not None:
            r["_hist"][k] = r["_hist"].get(k, 0) + 1

    for ts, _eid, et, svc, user, d in events:
        day, hour = _day(ts), _hour(ts)
        for agg, b in (
            ("analytics_event_trends_hourly", hour),
            ("analytics_event_trends_daily", day),
        ):
            t = row(agg, (b, et, svc), {"events": 0, "_users": set()})
            t["events"] += 1
            if user is not None:
                t["_users"].add(user)
        if user is not None:
            row("analytics_daily_active_users", (day, user), {"events": 0})["events"] += 1
        if et.startswith("task_"):
            r = row(
                "analytics_task_stats_daily",
                (day,),
                dict(
                    created=0,
                    started=0,
                    completed=0,
                    failed=0,
                    cancelled=0,
                    duration_count=0,
                    duration_sum_ms=0,
                    duration_max_ms=None,
                ),
            )
            r[et.removeprefix("task_")] += 1
            dm = d.get("duration_ms")
            if et in ("task_completed", "task_failed") and dm is not None:
                r["duration_count"] += 1
                r["duration_sum_ms"] += dm
                r["duration_max_ms"] = max(r["duration_max_ms"] or 0, dm)
                add_key(row("analytics_task_durations_daily", (day,), {"_hist": {}}), dm)
        elif et == "api_request":
            ep = (svc, d["endpoint"], d["method"])
            for agg, key in (
                ("analytics_api_latency_hourly", (hour, *ep)),
                ("analytics_api_latency_daily", (day, *ep)),
                ("analytics_api_hour_total", (hour,)),
                ("analytics_api_hour_service", (hour, svc)),
                ("analytics_api_hour_endpoint", (hour, *ep)),
                ("analytics_api_day_total", (day,)),
                ("analytics_api_day_service", (day, svc)),
                ("analytics_api_day_endpoint", (day, *ep)),
            ):
                r = row(
                    agg,
                    key,
                    dist_init()
                    if agg.startswith("analytics_api_") and "latency" not in agg
                    else lat_init(),
                )
                r["requests"] += 1
                r["requests_estimated"] += 1.0 / d["_meta"].get("sample_rate", 1.0)
                sc = d["status_code"]
                r["errors_4xx"] += 400 <= sc <= 499
                r["errors_5xx"] += sc >= 500
                r["duration_count"] += 1
                r["duration_sum_ms"] += d["duration_ms"]
                r["duration_max_ms"] = max(r["duration_max_ms"] or 0, d["duration_ms"])
                if "_hist" in r:
                    add_key(r, d["duration_ms"])
        elif et.startswith(("integration_", "oauth_")):
            r = row(
                "analytics_integration_health_daily",
                (day, d["provider"]),
                dict(
                    connected=0,
                    disconnected=0,
                    used=0,
                    used_success=0,
                    used_failed=0,
                    errors=0,
                    oauth_started=0,
                    oauth_completed=0,
                    oauth_failed=0,
                    used_duration_sum_ms=0,
                ),
            )
            if et == "integration_connected":
                r["connected"] += 1
            elif et == "integration_disconnected":
                r["disconnected"] += 1
            elif et == "integration_used":
                r["used"] += 1
                r["used_success" if d["success"] else "used_failed"] += 1
                r["used_duration_sum_ms"] += d["duration_ms"]
            elif et == "integration_error":
                r["errors"] += 1
            elif et == "oauth_flow_started":
                r["oauth_started"] += 1
            else:
                r["oauth_completed" if d["success"] else "oauth_failed"] += 1
        elif et.startswith("auth_"):
            r = row(
                "analytics_auth_events_daily",
                (day,),
                dict(
                    login_attempts=0,
                    login_success=0,
                    login_failed=0,
                    codes_verified=0,
                    codes_failed=0,
                    token_refreshes=0,
                    token_refresh_failed=0,
                    sessions_validated=0,
                    sessions_invalid=0,
                ),
            )
            if et == "auth_login_attempt":
                r["login_attempts"] += 1
                r["login_success" if d["success"] else "login_failed"] += 1
            elif et == "auth_code_verified":
                r["codes_verified" if d["success"] else "codes_failed"] += 1
            elif et == "auth_token_refresh":
                r["token_refreshes"] += 1
                r["token_refresh_failed"] += not d["success"]
            else:
                r["sessions_validated"] += 1
                r["sessions_invalid"] += not d["valid"]
        elif et.startswith("cocoon_"):
            r = row(
                "analytics_cocoon_activity_daily",
                (day,),
                dict(
                    registered=0,
                    connected=0,
                    disconnected=0,
                    claimed=0,
                    setup_tokens_created=0,
                    setup_tokens_used=0,
                    session_duration_sum_ms=0,
                ),
            )
            col = {
                "cocoon_registered": "registered",
                "cocoon_connected": "connected",
                "cocoon_disconnected": "disconnected",
                "cocoon_claimed": "claimed",
                "cocoon_setup_token_created": "setup_tokens_created",
                "cocoon_setup_token_used": "setup_tokens_used",
            }[et]
            r[col] += 1
            if et == "cocoon_disconnected" and d.get("session_duration_ms") is not None:
                r["session_duration_sum_ms"] += d["session_duration_ms"]
        elif et == "application_error":
            r = row(
                "analytics_errors_hourly",
                (hour, svc, d["error_type"]),
                {"errors": 0, "sample_message": None},
            )
            r["errors"] += 1
            msg = d["message"]
            r["sample_message"] = (
                msg if r["sample_message"] is None else min(r["sample_message"], msg)
            )
    for agg in AGGREGATES:
        for r in ref[agg].values():
            if "_users" in r:
                r["users"] = len(r.pop("_users"))
            if "_hist" in r:
                hist = r.pop("_hist")
                keys = sorted(hist)
                counts = [hist[k] for k in keys]
                r.update(hist_keys=keys, hist_counts=counts)
                r.update(
                    zip(
                        ("p50_key", "p95_key", "p99_key"),
                        h.percentile_keys(keys, counts, (0.5, 0.95, 0.99)),
                        strict=True,
                    )
                )
                if agg == "analytics_task_durations_daily":
                    r["duration_count"] = sum(counts)
    return ref


KEYS = {
    "analytics_daily_active_users": ("day", "user_id"),
    "analytics_task_stats_daily": ("day",),
    "analytics_api_latency_hourly": ("hour", "service", "endpoint", "method"),
    "analytics_api_latency_daily": ("day", "service", "endpoint", "method"),
    "analytics_integration_health_daily": ("day", "provider"),
    "analytics_auth_events_daily": ("day",),
    "analytics_cocoon_activity_daily": ("day",),
    "analytics_errors_hourly": ("hour", "service", "error_type"),
    "analytics_api_hour_total": ("bucket",),
    "analytics_api_hour_service": ("bucket", "service"),
    "analytics_api_hour_endpoint": ("bucket", "service", "endpoint", "method"),
    "analytics_api_day_total": ("bucket",),
    "analytics_api_day_service": ("bucket", "service"),
    "analytics_api_day_endpoint": ("bucket", "service", "endpoint", "method"),
    "analytics_task_durations_daily": ("day",),
    "analytics_event_trends_hourly": ("bucket", "event_type", "service"),
    "analytics_event_trends_daily": ("bucket", "event_type", "service"),
}


async def fetch_aggregates(
    conn: asyncpg.Connection,
) -> dict[str, dict[tuple[Any, ...], dict[str, Any]]]:
    out: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {}
    for agg, keys in KEYS.items():
        rows = await conn.fetch(f"SELECT * FROM {agg}")
        got: dict[tuple[Any, ...], dict[str, Any]] = {}
        for r in rows:
            d = dict(r)
            key = tuple(d.pop(k) for k in keys)
            assert key not in got, f"duplicate group {key} in {agg}"
            got[key] = d
        out[agg] = got
    return out


def compare(
    got: dict[str, dict[tuple[Any, ...], dict[str, Any]]],
    ref: dict[str, dict[tuple[Any, ...], dict[str, Any]]],
) -> dict[str, float]:
    """Assert every column equal (floats to 1e-9 relative); returns max float deviation."""
    worst: dict[str, float] = {}
    for agg in AGGREGATES:
        assert set(got[agg]) == set(ref[agg]), f"{agg}: groups differ"
        for key, want in ref[agg].items():
            have = got[agg][key]
            assert set(have) == set(want), f"{agg}: columns differ: {set(have) ^ set(want)}"
            for col, v in want.items():
                if isinstance(v, float):
                    dev = abs(have[col] - v) / max(abs(v), 1e-12)
                    worst[f"{agg}.{col}"] = max(worst.get(f"{agg}.{col}", 0.0), dev)
                    assert dev < 1e-9, (agg, key, col, have[col], v)
                else:
                    assert have[col] == v, (agg, key, col, have[col], v)
    return worst


def nearest_rank(values: list[Any], q: float) -> Any:
    s = sorted(values)
    return s[max(1, math.ceil(q * len(s) - 1e-9)) - 1]
