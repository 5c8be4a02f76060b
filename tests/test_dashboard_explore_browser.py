"""The dashboard as an analytics tool, in Chromium over a real server and database (issue 25
item 4, issue 29 item 5): the Explore view, a user's view, the slowest endpoints'
drill-down, CSV exports, the KPI cards' change against the previous period, every view
as a shareable link, hideable panels, the inclusive "To" date and the service filter.

Every check compares what the page shows with the API's answer to the very request the
page made (or, for a download, with the same URL fetched again), so the page cannot
invent, drop or reorder a number. Waits are DOM conditions (a counter the page bumps when
a view is drawn), never sleeps. Problems are collected and reported together.
The page driver and the page's number formats: ``tests/_dashboard_page.py``. The seed:
:func:`tests.test_dashboard_browser.served` (20 simulated days, a custom
``invoice_paid_browser`` event class with ``amount_cents``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
import pytest

from lib_analytics_core.alerts import parse_config
from lib_analytics_core.alerts.engine import evaluate_once
from lib_analytics_core.api import create_app
from lib_analytics_core.read.window import last_days
from tests import _read_seed
from tests._dashboard_funnels import check_funnel_breakdown, check_funnels, check_funnels_link
from tests._dashboard_page import Page, delta_text, fmt_value, group_cells, launch, shot
from tests._serve import serve_in_thread
from tests.test_dashboard_browser import (
    NONE,
    TOKEN,
    InvoicePaid,
    fmt_int,
    fmt_ms,
    fmt_pct,
    require_chromium,
    served,  # noqa: F401 - the fixture, shared with the first browser test
)

pytestmark = pytest.mark.slow

DAY = dt.timedelta(days=1)
#: The cards and their /v1/overview keys; rates change in percentage points.
CARDS = {
    "dau": "dau",
    "wau": "wau",
    "mau": "mau",
    "requests": "requests",
    "p95": "p95_ms",
    "errors": "error_rate",
    "tasks": "task_success_rate",
}
RATES = ("error_rate", "task_success_rate")
#: The panels of event families a platform may never send.
OPTIONAL = ("integrations", "auth", "cocoons")
#: Panels whose question has no service (they say so under a service filter).
UNFILTERED = ("users", "tasks", "integrations", "auth", "cocoons")


# ----------------------------------------------------------------------- the checks


def check_kpis(t: Page, service: str = "") -> None:
    """Every card shows its value and its change against the previous period of equal
    length, from /v1/overview?compare=true (filtered by the service where it can be)."""
    url = t.request("/v1/overview", compare="true")
    if url is None:
        return
    q = parse_qs(urlsplit(url).query)
    t.expect(q.get("service", [""]) == [service], f"overview service {q.get('service')}")
    body = t.get(url)
    if body is None:
        return
    cur, prev = body["current"], body["previous"]
    shown = {
        "requests": fmt_int(cur["requests"]),
        "p95": fmt_ms(cur["p95_ms"]) if cur["p95_ms"] is not None else NONE,
        "errors": fmt_pct(cur["error_rate"]) if cur["error_rate"] else NONE,
        "mau": fmt_int(cur["mau"]) if cur["mau"] is not None else NONE,
    }
    for card, value in shown.items():
        got = t.page.inner_text(f"#kpi-{card} .value")
        t.expect(got == value, f"kpi {card} shows {got!r}, the API {value!r}")
    for card, key in CARDS.items():
        expected = delta_text(cur[key], prev[key] if prev else None, key in RATES)
        got = t.page.inner_text(f"#kpi-{card} .delta")
        t.expect(got == expected, f"kpi {card} change {got!r}, expected {expected!r}")


_GLITCHES_JS = """() => {
    const c = window.dashboard.charts;
    const labels = (id) => {
        // the labels drawn: not those at the axis' ends (half a bucket outside the window)
        const axis = c[id].getModel().getComponent('xAxis', 0).axis;
        const [lo, hi] = axis.scale.getExtent();
        return axis.getViewLabels().filter((l) => l.tick.value > lo && l.tick.value < hi)
            .map((l) => l.formattedLabel);
    };
    const o = (id) => c[id].getOption();
    return {
        days: labels('chart-users'),
        cocoons: Object.fromEntries(
            o('chart-cocoons').series.map((s) => [s.name, s.yAxisIndex || 0])),
        rate: (({ min, max, interval }) => ({ min, max, interval }))(o('chart-tasks').yAxis[1]),
        latency: o('chart-latency').yAxis.map((a) => a.type),
    };
}"""


def check_glitches(t: Page) -> None:
    """What a new user saw (issue 25 item 4): day labels without their month; cocoon
    registrations flattened beside connections; uneven percentage ticks; p99 spikes of a
    low-volume service flattening its p50/p95 (the latency axes are logarithmic)."""
    got = t.page.evaluate(_GLITCHES_JS)
    bad = [x for x in got["days"] if not re.fullmatch(r"[A-Z][a-z]{2} \d{1,2}", x)]
    t.expect(bool(got["days"]) and not bad, f"day labels without a month: {got['days']}")
    axes = got["cocoons"]
    t.expect(
        axes.get("connected") == 0 and axes.get("registered") == axes.get("claimed") == 1,
        f"cocoon registrations share the connections' axis: {axes}",
    )
    t.expect(
        bool(got["latency"]) and set(got["latency"]) == {"log"},
        f"latency axes {got['latency']}: a p99 spike flattens p50/p95 on a linear axis",
    )
    rate = got["rate"]
    steps = (rate["max"] - rate["min"]) / rate["interval"] if rate.get("interval") else 0.5
    t.expect(
        rate["max"] == 1 and abs(steps - round(steps)) < 1e-9 and 1 <= round(steps) <= 5,
        f"task success axis ticks are uneven: {rate}",
    )


def check_drill(t: Page) -> None:
    """A click on a "Slowest endpoints" row opens that endpoint's p50/p95/p99 over time."""
    top = t.request("/v1/endpoints/top")
    rows = t.get(top)["rows"] if top else []
    if not t.expect(bool(rows), "no slowest endpoints to drill into"):
        return
    first = rows[0]
    if not t.settle(lambda: t.page.click("#top-endpoints tbody tr:first-child"), "drill", "drills"):
        return
    url = t.request(
        "/v1/api-latency",
        group_by="endpoint",
        service=first["service"],
        endpoint=first["endpoint"],
        method=first["method"],
    )
    if url is None:
        return
    answer = t.get(url)
    series = t.series("chart-drill")
    by_bucket = {r["bucket"]: r for r in answer["rows"]}
    t.expect(bool(by_bucket), f"the drill-down's question has no rows: {url}")
    for p in ("p50", "p95", "p99"):
        drawn = {dt.datetime.fromtimestamp(x / 1000, dt.UTC): y for x, y in series.get(p, []) if y}
        want = {
            dt.datetime.fromisoformat(b.replace("Z", "+00:00")): r[f"{p}_ms"]
            for b, r in by_bucket.items()
        }
        t.expect(drawn == want, f"drill {p}: drawn {list(drawn.items())[:3]} != {url}")
    shot(t, "drill")
    title = t.page.inner_text("#drill-title")
    t.expect(first["endpoint"] in title, f"drill title {title!r}")
    state = parse_qs(urlsplit(t.page.url).query)
    t.expect(state.get("d_endpoint") == [first["endpoint"]], f"drill not in URL {t.page.url}")
    t.csv_matches("#drill-csv", url, "drill-down CSV")


def check_explore(t: Page, expected_sum: int) -> str | None:
    """Explore: pick the custom event type, sum of a numeric field, a filter, a group-by,
    daily buckets with the previous period; chart, table and total are the API's answer;
    the CSV export is the API's CSV. Returns the view's link."""
    page = t.page
    if not t.settle(lambda: page.click("nav.views a[data-view=explore]"), "explore tab"):
        return None
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("type", lambda: page.select_option("#x-type", InvoicePaid.event_type)),
        ("measure", lambda: page.select_option("#x-measure", "sum")),
        ("field", lambda: page.select_option("#x-field", "amount_cents")),
        ("granularity", lambda: page.select_option("#x-gran", "day")),
    ]
    for label, step in steps:
        t.settle(step, f"explore {label}")
    # the whole range first, then a filter and a group-by
    url = t.request("/v1/explore", granularity="total", measure="sum:amount_cents")
    total = t.get(url) if url else None
    if total:
        value = total["rows"][0]["values"][0] if total["rows"] else None
        t.expect(value == expected_sum, f"explore total {value} != raw sum {expected_sum}")
        got = page.inner_text("#x-total .value")
        t.expect(got == fmt_value(value), f"explore total shows {got!r}, API {value}")
        prev = total["previous_rows"][0]["values"][0] if total.get("previous_rows") else None
        got = page.inner_text("#x-total .delta")
        t.expect(got == delta_text(value, prev, False), f"explore change {got!r} (prev {prev})")
    page.select_option("#x-f-field", "amount_cents")
    page.select_option("#x-f-op", "gt")
    page.fill("#x-f-value", "110")
    t.settle(lambda: page.click("#x-f-add"), "explore filter")
    t.settle(lambda: page.select_option("#x-group1", "user_id"), "explore group")
    url = t.request(
        "/v1/explore", granularity="day", measure="sum:amount_cents", group_by="user_id"
    )
    if url is None:
        return None
    q = parse_qs(urlsplit(url).query)
    t.expect(q.get("filter") == ["amount_cents:gt:110"], f"explore filter sent: {q}")
    answer = t.get(url)
    if answer is None:
        return None
    # the table: one row per bucket and group, in the API's order
    cells = t.texts("#x-table tbody tr")
    # the previous period's value: the same group in the bucket at the same position
    pos = {b: i for i, b in enumerate(answer["buckets"])}
    prev_pos = {b: i for i, b in enumerate(answer["previous_buckets"] or [])}
    before = {
        (prev_pos[r["bucket"]], *group_cells(r)): r["values"][0]
        for r in answer["previous_rows"] or []
    }
    want = []
    for r in answer["rows"]:
        value, prev = r["values"][0], before.get((pos[r["bucket"]], *group_cells(r)))
        change = delta_text(value, prev, False)
        want.append([r["bucket"][:10], *group_cells(r), fmt_value(value), fmt_value(prev), change])
    t.expect(cells == want, f"explore table {cells[:3]} != API {want[:3]}")
    t.expect(len(want) > 0, "explore: the filtered question has no rows")
    t.expect(any(w[-2] != NONE for w in want), "explore: no row has a previous value")
    # the chart: one series per group, every bucket of the range
    series = t.series("chart-explore")
    for r in answer["rows"]:
        name = "other" if r["other"][0] else (r["group"][0] or NONE)
        x = int(dt.datetime.fromisoformat(r["bucket"].replace("Z", "+00:00")).timestamp() * 1000)
        points = {p[0]: p[1] for p in series.get(name, [])}
        t.expect(points.get(x) == r["values"][0], f"explore chart {name} at {r['bucket']}")
    shot(t, "explore")
    t.csv_matches("#x-csv", url, "explore CSV")
    # a user id in the table leads to that user
    link = page.get_attribute("#x-table tbody a.user", "href")
    t.expect(bool(link) and "view=user" in (link or ""), f"no user link in the table: {link}")
    return str(page.url)


#: Rules the evaluator applies to the seed before the page opens: one SLO per kind, one
#: threshold that fires (invoices in the last day) and one that cannot.
ALERTS = """
[[slo]]
name = "platform-availability"
service = "platform"
kind = "availability"
objective = 0.995
window = "7d"

[[slo]]
name = "platform-latency"
service = "platform"
kind = "latency"
threshold_ms = 300
objective = 0.99

[[threshold]]
name = "invoices-seen"
event_type = "invoice_paid_browser"
measure = "count"
above = 0
over = "24h"

[[threshold]]
name = "never"
event_type = "invoice_paid_browser"
measure = "count"
below = 0
over = "24h"
"""


def check_reliability(t: Page) -> None:
    """The overview's reliability card: each SLO's remaining error budget and the firing
    alerts, as /v1/slos and /v1/alerts say."""
    slos_url, alerts_url = t.request("/v1/slos"), t.request("/v1/alerts")
    if slos_url is None or alerts_url is None:
        return
    slos, alerts = t.get(slos_url), t.get(alerts_url)
    t.expect(len(slos) == 2, f"the seed's SLOs: {slos}")
    drawn = t.series("chart-slos").get("error budget left", [])
    values = [p["value"] if isinstance(p, dict) else p for p in drawn]
    t.expect(values == [s["budget_remaining"] for s in slos], f"SLO budgets {values} != {slos}")
    firing = [s["rule"] for s in alerts["states"] if s["state"] == "firing"]
    t.expect("invoices-seen" in firing and "never" not in firing, f"firing: {firing}")
    shown = t.page.eval_on_selector_all(
        "#alerts-firing tbody tr[data-rule]", "rs => rs.map(r => r.dataset.rule)"
    )
    t.expect(shown == firing, f"firing alerts shown {shown} != {firing}")


def check_user(t: Page, user_id: str) -> None:
    """The user view: summary and the timeline newest first, "Older" pages by the cursor."""
    page = t.page
    page.fill("#user-input", user_id)
    if not t.settle(lambda: page.click("#user-go"), "user lookup"):
        return
    state = parse_qs(urlsplit(page.url).query)
    t.expect(state.get("view") == ["user"] and state.get("user") == [user_id], page.url)
    summary = t.get(f"/v1/users/{user_id}")
    if summary is None:
        return
    first = page.inner_text("#u-first")
    t.expect(first.startswith(summary["first_seen"][:19].replace("T", " ")), f"first {first!r}")
    last = page.inner_text("#u-last")
    t.expect(last.startswith(summary["last_seen"][:19].replace("T", " ")), f"last {last!r}")
    counts = t.texts("#u-counts tbody tr")
    want = sorted(([k, fmt_int(v)] for k, v in summary["counts"].items()), key=lambda c: c[0])
    t.expect(sorted(counts) == want, f"user counts {counts} != {want}")
    url = t.request(f"/v1/users/{user_id}/events")
    ids: list[str] = []
    pages = 0
    while url is not None:
        answer = t.get(url)
        if answer is None:
            return
        ids += [e["event_id"] for e in answer["events"]]
        shown = page.eval_on_selector_all("#u-timeline tbody tr", "rs => rs.map(r => r.dataset.id)")
        t.expect(shown == ids, f"timeline after {pages + 1} pages: {len(shown)} != {len(ids)}")
        pages += 1
        if answer["next_before"] is None or pages == 3:
            visible = page.is_visible("#u-older")
            t.expect(visible == (answer["next_before"] is not None), "older button state")
            break
        if not t.settle(lambda: page.click("#u-older"), "older", "userPages"):
            return
        url = t.request(f"/v1/users/{user_id}/events", before=answer["next_before"])
    t.expect(pages >= 2, f"the user's timeline was one page only ({len(ids)} events)")
    # a type in the counts narrows the timeline to it
    top = max(summary["counts"], key=lambda k: summary["counts"][k])
    if t.settle(lambda: page.click(f"#u-counts button[data-type='{top}']"), "user type"):
        url = t.request(f"/v1/users/{user_id}/events", event_type=top)
        answer = t.get(url) if url else None
        shown = page.eval_on_selector_all("#u-timeline tbody tr", "rs => rs.map(r => r.dataset.id)")
        if answer:
            t.expect(
                shown == [e["event_id"] for e in answer["events"]]
                and {e["event_type"] for e in answer["events"]} == {top},
                f"timeline of {top}: {len(shown)} rows",
            )
        t.expect(f"u_type={top}" in page.url, f"the type is not in the URL {page.url}")
    shot(t, "user")


def check_hide(t: Page, link: str) -> None:
    """A panel hidden by its button stays hidden in the link and in this browser."""
    page = t.page
    t.expect(page.is_visible("#card-auth"), "the auth panel is not shown")
    page.click("#card-auth .hide")
    page.wait_for_function("() => document.getElementById('card-auth').hidden")
    state = parse_qs(urlsplit(page.url).query)
    t.expect("auth" in state.get("hide", [""])[0].split(","), f"hide not in URL {page.url}")
    t.open(link, "reopen without hide")  # no hide= in the link: localStorage remembers
    t.expect(not page.is_visible("#card-auth"), "the hidden panel came back on reload")
    page.click("#hidden-panels button[data-show=auth]")
    page.wait_for_function("() => !document.getElementById('card-auth').hidden")
    t.expect("hide=" not in page.url, f"shown again, the URL still hides: {page.url}")


def check_service(t: Page, service: str) -> None:
    """The service filter reaches every panel and card that can be filtered; the others
    say they cannot."""
    page = t.page
    if not t.settle(lambda: page.select_option("#service", service), "service"):
        return
    check_kpis(t, service)
    for path in ("/v1/api-latency", "/v1/errors", "/v1/errors/top", "/v1/endpoints/top"):
        url = t.request(path)
        if url:
            q = parse_qs(urlsplit(url).query)
            t.expect(q.get("service") == [service], f"{path} not filtered: {url}")
    for card in UNFILTERED:
        note = page.inner_text(f"#card-{card} .scope")
        t.expect("all services" in note, f"{card} does not say it is unfiltered: {note!r}")
    for kpi in ("dau", "wau", "mau", "tasks"):
        hint = page.inner_text(f"#kpi-{kpi} .hint")
        t.expect("all services" in hint, f"kpi {kpi} does not say all services: {hint!r}")
    t.expect(page.inner_text("#card-latency .scope") == "", "a filtered panel says unfiltered")
    # funnels and retention follow users across services: they say they are unfiltered
    if t.settle(lambda: page.click("nav.views a[data-view=funnels]"), "funnels, filtered"):
        for note in ("#f-note", "#r-note"):
            text = page.inner_text(note)
            t.expect("all services" in text, f"{note} does not say it is unfiltered: {text!r}")
    t.settle(lambda: page.click("nav.views a[data-view=overview]"), "back to the overview")


def check_end(t: Page) -> None:
    """Custom dates: "To" is the inclusive last day, the API gets the exclusive end (last
    day + 1), and the cards are /v1/overview's for that half-open range."""
    page = t.page
    today = last_days(1).start
    first, last = today - 6 * DAY, today - DAY
    page.fill("#start", first.date().isoformat())
    page.fill("#end", last.date().isoformat())
    if not t.settle(lambda: page.click("#apply"), "custom dates"):
        return
    t.expect(page.input_value("#end") == last.date().isoformat(), "To is not the last day")
    url = t.request("/v1/overview", compare="true")
    if url is None:
        return
    q = parse_qs(urlsplit(url).query)
    start, end = q["start"][0], q["end"][0]
    t.expect(start.startswith(first.date().isoformat()), f"start {start}")
    t.expect(end.startswith((last + DAY).date().isoformat()), f"end {end} is not last day + 1")
    service = "".join(f"&service={v}" for v in q.get("service", []))
    direct = t.get(f"/v1/overview?start={first.date()}&end={(last + DAY).date()}{service}")
    if direct:
        for card in ("dau", "wau", "mau", "requests"):
            got = page.inner_text(f"#kpi-{card} .value")
            want = fmt_int(direct[card]) if direct[card] is not None else NONE
            t.expect(got == want, f"{card} {got!r} != /v1/overview {want!r} for the same range")


def test_dashboard_explore_user_drill_export_and_links(
    served: str,  # noqa: F811 - the shared fixture
    database_url: str,
) -> None:
    require_chromium()
    from playwright.sync_api import sync_playwright

    async def facts() -> tuple[int, str]:
        conn = await asyncpg.connect(database_url)
        try:
            await evaluate_once(conn, parse_config(ALERTS), at=dt.datetime.now(dt.UTC))
            total = await conn.fetchval(
                "SELECT sum((data->>'amount_cents')::bigint) FROM analytics_events "
                "WHERE event_type = $1 AND timestamp >= $2 AND timestamp < $3",
                InvoicePaid.event_type,
                last_days(7).start,
                last_days(7).end,
            )
            user = await conn.fetchval(
                "SELECT user_id::text FROM analytics_events WHERE user_id IS NOT NULL "
                "GROUP BY user_id ORDER BY count(*) DESC LIMIT 1"
            )
        finally:
            await conn.close()
        return int(total), str(user)

    expected_sum, user_id = asyncio.run(facts())
    with sync_playwright() as p, httpx.Client(base_url=served, timeout=30) as api:
        browser = launch(p)
        try:
            context = browser.new_context(
                viewport={"width": 1440, "height": 900}, bypass_csp=True, accept_downloads=True
            )
            errors: list[str] = []
            t = Page(context.new_page(), api, served)
            t.page.on("pageerror", lambda e: errors.append(str(e)))
            if t.open(f"{served}/?days=7", "7 days"):
                check_kpis(t)
                check_glitches(t)
                check_reliability(t)
                check_drill(t)
                drill_link = t.page.url
                check_hide(t, f"{served}/?days=7")
                check_service(t, "platform")
                check_end(t)
                # explore over the 7-day preset, all services (the filter applies to it too)
                t.settle(lambda: t.page.select_option("#service", ""), "all services")
                t.settle(lambda: t.page.click(".presets button[data-days='7']"), "7 days")
                explore_link = check_explore(t, expected_sum)
                check_funnels(t)
                funnels_link = check_funnel_breakdown(t)
                check_user(t, user_id)
                user_link = t.page.url
                # every view is a link: a fresh tab opens it as it was
                for link, label, ready in (
                    (drill_link, "drill link", "chart-drill"),
                    (explore_link, "explore link", "chart-explore"),
                    (user_link, "user link", None),
                    (funnels_link, "funnels link", "chart-funnel"),
                ):
                    if link is None:
                        continue
                    before = parse_qs(urlsplit(link).query)
                    fresh = Page(context.new_page(), api, served)
                    if fresh.open(link, label):
                        after = parse_qs(urlsplit(fresh.page.url).query)
                        fresh.expect(after == before, f"{label}: {after} != {before}")
                        if ready:
                            fresh.expect(bool(fresh.series(ready)), f"{label}: {ready} empty")
                        if label == "explore link":
                            fresh.expect(
                                fresh.page.input_value("#x-type") == InvoicePaid.event_type
                                and fresh.page.input_value("#x-group1") == "user_id"
                                and fresh.page.locator("#x-filters li").count() == 1,
                                f"{label}: the controls do not show the view",
                            )
                        if label == "funnels link":
                            check_funnels_link(fresh)
                        if label == "user link":
                            fresh.expect(
                                fresh.page.inner_text("#u-id") == user_id, f"{label}: user"
                            )
                    t.problems += fresh.problems
            t.expect(errors == [], f"page errors: {errors}")
        finally:
            browser.close()
    assert t.problems == [], "\n".join(t.problems)


@pytest.fixture
def custom_only(database_url: str) -> Iterator[str]:
    """A platform that sends only its own events: no integrations, auth or cocoons."""

    async def seed() -> None:
        custom = _read_seed.Seeded(d0=last_days(3).start)
        for i in range(10):
            custom.add(custom.at(0, 1 + i), InvoicePaid(amount_cents=i))
        await _read_seed.write(database_url, custom, service="billing")

    asyncio.run(seed())
    with serve_in_thread(create_app(database_url, TOKEN)) as url:
        yield url


def test_panels_of_events_never_sent_are_hidden_and_say_so(custom_only: str) -> None:
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p, httpx.Client(base_url=custom_only, timeout=30) as api:
        browser = launch(p)
        try:
            t = Page(browser.new_page(bypass_csp=True), api, custom_only)
            if t.open(f"{custom_only}/?days=7", "7 days"):
                for name in OPTIONAL:
                    t.expect(not t.page.is_visible(f"#card-{name}"), f"{name} panel shown")
                shot(t, "custom-only")
                note = t.page.inner_text("#hidden-panels")
                t.expect("sends no" in note, f"no word on the hidden panels: {note!r}")
                t.page.click("#hidden-panels button[data-show=cocoons]")
                t.page.wait_for_function("() => !document.getElementById('card-cocoons').hidden")
                t.expect("show=cocoons" in t.page.url, f"shown panel not in URL {t.page.url}")
        finally:
            browser.close()
    assert t.problems == [], "\n".join(t.problems)
