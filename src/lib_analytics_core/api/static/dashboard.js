/* Platform analytics dashboard: reads /v1/* with the bearer token, draws with ECharts.
 *
 * It draws exactly what the API returns: every time series is laid on the full list of
 * buckets of the selected window (zeros filled for counts, gaps for percentiles), so
 * stacked bars sit on the right base and every panel spans the same range. The window of
 * a preset comes from the API (/v1/window, the one definition of "the last N days":
 * whole UTC days ending with today), never from the browser's clock.
 *
 * The view (preset or dates, granularity, service) lives in the URL: a shared link opens
 * the same view, and each change is a history entry, so Back returns to the previous one.
 * The token comes from ?token=... (then removed from the address bar) or from a prompt,
 * and lives in sessionStorage only. Each panel is independent, so one failing query does
 * not blank the others. window.dashboard exposes the chart instances and a load counter
 * (used by the browser test).
 *
 * Views: the modules loaded after this file (overview.js: the overview's panels and KPI
 * cards; panels.js: hideable
 * panels; drill.js: an endpoint's drill-down; explore.js: any question over any event;
 * funnels.js: funnels and retention; user.js: one user's timeline) register in dashboard.modules: their part of the URL,
 * their controls and their loaders. dashboard.lib is what they share with this file.
 * Every KPI card shows its change against the previous period of equal length, and
 * every panel exports its data as the API's own CSV (fetched with the token, saved as a
 * file). The service filter reaches every panel and card whose question has a service;
 * the others say "all services".
 *
 * As people see it: while a view's data is on the way every panel and card is marked
 * aria-busy and shows "Loading…"; a bucket that has not begun yet is not drawn (a gap, not
 * "0 errors" for hours that have not happened); in a 1-day view the daily panels draw
 * their one day as a labelled category ("today so far"), not a dot at midnight on a 24 h
 * axis; legends wrap and the plot starts below them, axis labels that would collide are
 * hidden, and units are in the axis labels rather than over the titles.
 */
(() => {
  'use strict';

  const TOKEN_KEY = 'lib-analytics-core.token';
  const DAY_MS = 86400000;
  const HOUR_MS = 3600000;
  const DEFAULT_DAYS = 30;
  // Hourly buckets up to two weeks by default; the hourly aggregates serve up to 93 days.
  const AUTO_HOURLY_DAYS = 14;
  const MAX_HOURLY_DAYS = 93;
  const C = {
    indigo: '#4f6bed', teal: '#2bb3a3', amber: '#f2a541', rose: '#e0577a', slate: '#8792ab',
    green: '#36b37e', red: '#e5484d', violet: '#8e6cf0', sky: '#3aa0e8',
  };
  const SERIES_COLORS = [C.indigo, C.teal, C.amber, C.rose, C.violet, C.sky, C.green, C.slate];
  const PCT_COLORS = { p50: C.teal, p95: C.indigo, p99: C.rose };

  const $ = (id) => document.getElementById(id);
  // days: a preset (N) or null for custom dates; start/end: inclusive UTC days (YYYY-MM-DD);
  // granularity: 'auto' | 'hour' | 'day'; range: the API's half-open [start, end) of the view.
  const state = {
    token: null, days: DEFAULT_DAYS, start: null, end: null, service: '', granularity: 'auto', range: null,
    by: 'p95', eventType: '', view: 'overview',
  };
  const VIEWS = ['overview', 'explore', 'funnels', 'user'];
  const RANKINGS = ['p95', 'p99', 'error_rate', 'requests'];
  let generation = 0;
  const charts = {};
  const dashboard = (window.dashboard = {
    charts, state, loads: 0, drills: 0, userPages: 0, errors: [], ready: false, modules: [], lib: {},
  });
  // Each panel's data as a CSV download: card id -> the request behind it.
  const exports = new Map();

  // ------------------------------------------------------------------ helpers

  const isoDay = (d) => d.toISOString().slice(0, 10);
  const parseDay = (s) => new Date(s + 'T00:00:00Z');
  const addDays = (s, n) => isoDay(new Date(parseDay(s).getTime() + n * DAY_MS));
  const fmtInt = (n) => (n == null ? '–' : Math.round(n).toLocaleString('en-US'));
  const fmtMs = (v) => (v == null ? '–' : v >= 1000 ? (v / 1000).toFixed(v >= 10000 ? 0 : 1) + ' s' : v >= 10 ? Math.round(v) + ' ms' : v.toFixed(1) + ' ms');
  const fmtPct = (v) => (v == null ? '–' : (v * 100).toFixed(1) + '%');
  // A measure of any kind: integers grouped, other numbers to at most 2 decimals.
  const fmtVal = (v) => (v == null ? '–' : Number.isInteger(v) ? v.toLocaleString('en-US')
    : v.toLocaleString('en-US', { maximumFractionDigits: 2 }));
  // The change against the previous period: relative for counts and latencies, in
  // percentage points for rates; a dash when there is nothing to compare with.
  function fmtDelta(cur, prev, rate) {
    if (cur == null || prev == null || (!rate && prev === 0)) return '–';
    const d = rate ? (cur - prev) * 100 : (cur - prev) / prev * 100;
    const text = d.toFixed(1);
    return (Number(text) > 0 ? '+' : '') + text + (rate ? ' pp' : '%');
  }
  const ts = (s) => new Date(s).getTime();
  // A point is [x, y] on a time axis and a bare y on a category axis.
  const yOf = (p) => (Array.isArray(p) ? p[1] : p);
  const nonNull = (p) => yOf(p) != null;
  // When the current view was drawn (ms): a bucket that starts later has not begun.
  const drawnAt = () => dashboard.drawnAt || Date.now();

  // Every bucket start of the half-open range, in ms: the x values of a dense series.
  function bucketList(range, stepMs) {
    const out = [];
    for (let t = ts(range.start); t < ts(range.end); t += stepMs) out.push(t);
    return out;
  }
  // [bucket, value] for every bucket; `fill` where the API returned no row for a bucket,
  // and null (nothing drawn) for a bucket that has not begun: no zeros for the future.
  function dense(buckets, byBucket, value, fill) {
    const now = drawnAt();
    return buckets.map((b) => {
      if (b > now) return [b, null];
      const r = byBucket.get(b);
      return [b, r === undefined ? fill : value(r)];
    });
  }
  const indexBy = (rows, key) => new Map(rows.map((r) => [ts(r[key]), r]));
  // A line point with no drawn neighbour is invisible unless its symbol is shown.
  const isolated = (data) => data.some((p, i) => nonNull(p)
    && !(i > 0 && nonNull(data[i - 1])) && !(i + 1 < data.length && nonNull(data[i + 1])));

  class AuthError extends Error {}

  function apiUrl(path, params = {}) {
    const url = new URL(path, window.location.origin);
    for (const [k, v] of Object.entries(params)) {
      // An array is a repeated parameter (explore's measure, filter, group_by).
      for (const one of Array.isArray(v) ? v : [v]) {
        if (one !== '' && one != null) url.searchParams.append(k, one);
      }
    }
    return url;
  }

  // The API's CSV of a question (format=csv, streamed by the server), saved as a file:
  // a plain link cannot carry the bearer token, so it is fetched and handed over as a blob.
  async function download(path, params, name) {
    const url = apiUrl(path, { ...params, format: 'csv' });
    const resp = await fetch(url, { headers: { Authorization: 'Bearer ' + state.token } });
    if (!resp.ok) throw new Error(`${path}: ${resp.status} ${resp.statusText}`);
    const blob = await resp.blob();
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = (name || path.replace(/^\/v1\//, '').replace(/\//g, '-')) + '.csv';
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 60000);
  }
  // A panel's CSV button downloads the request last drawn in it.
  const exportOf = (cardId, path, params) => exports.set(cardId, { path, params });

  async function api(path, params = {}) {
    const url = apiUrl(path, params);
    const resp = await fetch(url, { headers: { Authorization: 'Bearer ' + state.token } });
    if (resp.status === 401) throw new AuthError('token rejected');
    if (!resp.ok) {
      let detail = resp.statusText;
      try {
        // The one error body of the API and the collector: {"error": code, "message": text}.
        const body = await resp.json();
        if (typeof body.message === 'string') detail = body.message;
      } catch (_) { /* not JSON */ }
      throw new Error(`${path}: ${resp.status} ${detail}`);
    }
    return resp.json();
  }

  function chart(id) {
    if (!charts[id]) {
      charts[id] = echarts.init($(id), null, { renderer: 'canvas' });
    }
    return charts[id];
  }

  const baseTooltip = {
    trigger: 'axis',
    backgroundColor: 'rgba(21,27,46,.94)',
    borderWidth: 0,
    textStyle: { color: '#e8ecf7', fontSize: 12 },
    axisPointer: { type: 'line', lineStyle: { color: '#a7b0c8', type: 'dashed' } },
  };
  const axisCommon = {
    axisLine: { lineStyle: { color: '#cfd5e3' } },
    // hideOverlap: on a 90-day axis, month names and day numbers would collide.
    axisLabel: { color: '#6b7489', fontSize: 11, hideOverlap: true },
    splitLine: { lineStyle: { color: '#eef1f6' } },
  };
  // The x axis of every time panel spans the whole window (half a bucket of margin for bars).
  // Every day label names its month ("Dec 8", not "8" beside a lone "Dec"): on a 90-day
  // axis the labels that survive hideOverlap are then readable on their own.
  const TIME_LABELS = { year: '{yyyy}', month: '{MMM} {d}', day: '{MMM} {d}', hour: '{HH}:{mm}', minute: '{HH}:{mm}' };
  const timeAxis = (extra = {}, stepMs = DAY_MS) => ({
    type: 'time', ...axisCommon, splitLine: { show: false },
    min: ts(state.range.start) - stepMs / 2, max: ts(state.range.end) - stepMs / 2, ...extra,
    // The axis ends half a bucket outside the window: no label there ("12:00" on a daily axis).
    axisLabel: { ...axisCommon.axisLabel, ...(extra.axisLabel || {}), formatter: TIME_LABELS, showMinLabel: false, showMaxLabel: false },
  });
  // The right axis of a rate (0-100 %): ticks at even steps ending at 100 %, so no two
  // labels ("99%", "100%") are pressed together.
  function rateAxis(values) {
    const low = Math.min(1, ...values.filter((v) => v != null));
    const steps = [0.01, 0.02, 0.05, 0.1, 0.2, 0.25];
    const step = steps.find((st) => (1 - low) / st <= 4) || 0.25;
    const min = Math.max(0, 1 - step * Math.max(1, Math.ceil((1 - low) / step)));
    return valueAxis({
      min, max: 1, interval: step, splitLine: { show: false },
      axisLabel: { color: '#6b7489', fontSize: 11, formatter: (v) => Math.round(v * 100) + '%' },
    });
  }
  const valueAxis = (extra = {}) => ({ type: 'value', ...axisCommon, ...extra });
  const LEGEND_FONT_PX = 12;
  const legend = { top: 0, right: 0, icon: 'roundRect', itemWidth: 12, itemHeight: 8, itemGap: 10, textStyle: { color: '#4a5368', fontSize: LEGEND_FONT_PX } };
  const grid = { left: 8, right: 12, top: 34, bottom: 4, containLabel: true };

  // How many rows a plain horizontal legend of `names` takes in `width` pixels: ECharts
  // wraps the items that do not fit, and the plot must start below the last row (a
  // scrolling legend hid every error type past the first few).
  let measure = null;
  function legendRows(names, width) {
    if (!measure) measure = document.createElement('canvas').getContext('2d');
    measure.font = `${LEGEND_FONT_PX}px sans-serif`;
    let rows = 1, x = 0;
    for (const n of names) {
      const w = legend.itemWidth + 5 + measure.measureText(n).width;
      if (x > 0 && x + w > width) { rows += 1; x = 0; }
      x += w + legend.itemGap;
    }
    return rows;
  }
  // A legend across the whole width, wrapped, and the grid top that clears it.
  function wrappedLegend(id, names) {
    const rows = legendRows(names, chart(id).getWidth() - 4);
    return { legend: { ...legend, left: 0, right: 0, data: names }, top: rows * 14 + (rows - 1) * legend.itemGap + 18 };
  }

  // The daily panels' x axis: the window's days on a time axis, or, in a 1-day view, that
  // one day as a labelled category (today is partial: "today so far").
  const oneDay = () => viewDays() === 1;
  function dayLabel(day) {
    return day === isoDay(new Date(drawnAt())) ? `${day} (today so far)` : day;
  }
  const dayAxis = () => (oneDay()
    ? { type: 'category', ...axisCommon, data: [dayLabel(state.range.start.slice(0, 10))] }
    : timeAxis());

  function empty(option, rows) {
    option.title = rows === 0
      ? { text: 'No data in this range', left: 'center', top: 'middle', textStyle: { color: '#9aa3b8', fontSize: 13, fontWeight: 500 } }
      : { show: false };
    return option;
  }

  const line = (name, data, color, extra = {}) => ({
    // No smoothing: a spline overshoots between buckets and draws values the API never said.
    name, type: 'line', data, showSymbol: isolated(data), symbolSize: 6, smooth: false,
    lineStyle: { width: 2, color }, itemStyle: { color }, ...extra,
  });
  const area = (color) => ({
    color: new echarts.graphic.LinearGradient(0, 0, 0, 1, [
      { offset: 0, color: color + '40' }, { offset: 1, color: color + '05' },
    ]),
  });

  function viewDays() {
    return Math.round((ts(state.range.end) - ts(state.range.start)) / DAY_MS);
  }

  // The bucket size of the latency, requests and errors panels.
  function granularity() {
    if (state.granularity !== 'auto') return state.granularity;
    return viewDays() <= AUTO_HOURLY_DAYS ? 'hour' : 'day';
  }
  const stepOf = (g) => (g === 'hour' ? HOUR_MS : DAY_MS);

  // Every panel and KPI card says "Loading…" while its view's data is on the way.
  function setBusy(busy) {
    const view = $('view-' + state.view) || document;
    for (const el of view.querySelectorAll('.card, .kpi')) {
      el.setAttribute('aria-busy', busy ? 'true' : 'false');
    }
  }

  // ------------------------------------------------------------------ the view and the URL

  const isDay = (s) => /^\d{4}-\d{2}-\d{2}$/.test(s || '');

  // The view a URL describes (anything missing or malformed falls back to the default).
  function viewFromUrl() {
    const q = new URLSearchParams(window.location.search);
    const days = Number(q.get('days'));
    const view = {
      days: DEFAULT_DAYS, start: null, end: null, service: q.get('service') || '', granularity: 'auto',
      by: RANKINGS.includes(q.get('by')) ? q.get('by') : 'p95', eventType: q.get('event_type') || '',
      view: VIEWS.includes(q.get('view')) ? q.get('view') : 'overview',
    };
    for (const m of dashboard.modules) Object.assign(view, m.fromUrl(q));
    if (isDay(q.get('start')) && isDay(q.get('end')) && q.get('start') <= q.get('end')) {
      view.days = null; view.start = q.get('start'); view.end = q.get('end');
    } else if (Number.isInteger(days) && days >= 1 && days <= 732) {
      view.days = days;
    }
    if (['hour', 'day'].includes(q.get('granularity'))) view.granularity = q.get('granularity');
    return view;
  }

  function urlOf(view) {
    const q = new URLSearchParams();
    if (view.days != null) q.set('days', String(view.days));
    else { q.set('start', view.start); q.set('end', view.end); }
    if (view.granularity !== 'auto') q.set('granularity', view.granularity);
    if (view.service) q.set('service', view.service);
    if (view.by && view.by !== 'p95') q.set('by', view.by);
    if (view.eventType) q.set('event_type', view.eventType);
    if (view.view && view.view !== 'overview') q.set('view', view.view);
    for (const m of dashboard.modules) m.toUrl(view, q);
    return window.location.pathname + '?' + q.toString();
  }

  function currentView() {
    const view = {
      days: state.days, start: state.days == null ? state.start : null, end: state.days == null ? state.end : null,
      service: state.service, granularity: state.granularity, by: state.by, eventType: state.eventType,
      view: state.view,
    };
    for (const m of dashboard.modules) for (const k of m.keys) view[k] = state[k];
    return view;
  }

  // A user's change: a new history entry, then the redraw (of `only` these loaders when
  // given: a drill-down does not refetch the whole overview).
  function navigate(changes, only) {
    Object.assign(state, changes);
    window.history.pushState(null, '', urlOf(currentView()));
    loadAll(only);
  }
  // A change that is not a new view of the data (a hidden panel): the URL follows.
  function remember(changes) {
    Object.assign(state, changes);
    window.history.replaceState(null, '', urlOf(currentView()));
  }

  function applyView(view) {
    Object.assign(state, view);
    syncControls();
  }

  // Which view is on screen (overview, explore, user) and the tabs that say so.
  function showView() {
    for (const v of VIEWS) {
      const el = $('view-' + v);
      if (el) el.hidden = v !== state.view;
    }
    for (const a of document.querySelectorAll('nav.views a')) {
      const v = a.dataset.view;
      a.classList.toggle('active', v === state.view);
      a.href = urlOf({ ...currentView(), view: v });
    }
  }

  // The controls show the current view, however it was reached (click, link, Back).
  function syncControls() {
    for (const b of document.querySelectorAll('.presets button')) {
      b.classList.toggle('active', Number(b.dataset.days) === state.days);
    }
    const sel = $('service');
    if (state.service && ![...sel.options].some((o) => o.value === state.service)) {
      const o = document.createElement('option');
      o.value = state.service; o.textContent = state.service; sel.append(o);
    }
    sel.value = state.service;
    $('granularity').value = state.granularity;
  }

  // The half-open UTC range of the view: a preset asks the API (the one definition of
  // "the last N days"), custom dates are whole UTC days from `start` through `end`.
  async function resolveRange() {
    if (state.days != null) {
      const w = await api('/v1/window', { days: state.days });
      state.start = w.start.slice(0, 10);
      state.end = addDays(w.end.slice(0, 10), -1);
      return { start: w.start, end: w.end };
    }
    return { start: state.start + 'T00:00:00Z', end: addDays(state.end, 1) + 'T00:00:00Z' };
  }

  function showStatus(msg, isError) {
    const el = $('status');
    el.textContent = msg || '';
    el.classList.toggle('error', Boolean(isError));
  }

  // The loaders of the current view, from every module (overview.js: the overview's panels).
  function loaders() {
    return [].concat(...dashboard.modules.map((m) => m.loaders(state.view)));
  }

  async function loadAll(only) {
    if (!state.token) { askToken(); return; }
    const mine = ++generation;
    showView();
    if (!only) setBusy(true);
    let range;
    try {
      range = await resolveRange();
    } catch (e) {
      setBusy(false);
      if (e instanceof AuthError) { tokenRejected(); return; }
      showStatus(String(e.message || e), true);
      return;
    }
    if (mine !== generation) return;
    state.range = range;
    syncControls();
    $('start').value = state.start;
    $('end').value = state.end;
    // The Buckets control is the overview's; explore has its own, the user view none.
    const per = { hour: 'hourly', day: 'daily', total: 'whole range' };
    const buckets = state.view === 'explore' ? per[state.explore.gran] : state.view === 'user' ? 'timeline of all stored events'
      : state.view === 'funnels' ? 'from raw events' : per[granularity()];
    $('granularity').disabled = state.view !== 'overview';
    $('range-label').textContent = `${state.start} → ${state.end} (UTC) · ${buckets} · ${state.service || 'all services'}`;
    showStatus('');
    if (!only) loadHealth();
    const panels = only || loaders();
    const results = await Promise.allSettled(panels.map((p) => p(range)));
    if (mine !== generation) return; // a newer view is on its way
    const failures = results.filter((r) => r.status === 'rejected').map((r) => r.reason);
    setBusy(false);
    if (failures.some((e) => e instanceof AuthError)) { tokenRejected(); return; }
    dashboard.drawnAt = Date.now();
    for (const r of results) {
      if (r.status !== 'fulfilled') continue;
      try { r.value(); } catch (e) { failures.push(e); }
    }
    dashboard.errors = failures.map((e) => String(e.message || e));
    if (failures.length) showStatus(dashboard.errors.join(' · '), true);
    dashboard.loads += 1;
    if (only) dashboard.drills += 1;
    dashboard.ready = true;
    document.body.dataset.loads = String(dashboard.loads);
  }

  // Stale data must not look like quiet data: when a TimescaleDB job fails, the scheduler
  // is off or `analytics-migrate maintain` stopped running, say so above the charts.
  async function loadHealth() {
    const el = $('health-banner');
    try {
      const h = await api('/v1/health');
      el.hidden = Boolean(h.ok);
      el.textContent = h.ok ? '' : h.summary || 'Data may be stale: ' + h.problems.join(' · ');
      dashboard.health = h;
    } catch (e) {
      // A database that is not migrated answers 503 not_migrated ("run analytics-migrate").
      const unmigrated = /analytics-migrate/.test(String(e && e.message));
      el.hidden = !unmigrated;
      el.textContent = unmigrated
        ? 'No data yet: the analytics database is not set up (an operator must run analytics-migrate).'
        : '';
    }
  }

  function tokenRejected() {
    sessionStorage.removeItem(TOKEN_KEY);
    state.token = null;
    askToken('That token was rejected.');
  }

  async function loadServices() {
    try {
      const { services } = await api('/v1/services');
      const sel = $('service');
      sel.replaceChildren(sel.options[0]);
      for (const s of services) {
        const o = document.createElement('option');
        o.value = s; o.textContent = s; sel.append(o);
      }
    } catch (e) {
      if (e instanceof AuthError) throw e;
    }
  }

  function askToken(error) {
    $('token-error').textContent = error || '';
    const dlg = $('token-dialog');
    if (!dlg.open) dlg.showModal();
  }

  function init() {
    const params = new URLSearchParams(window.location.search);
    if (params.has('token')) {
      sessionStorage.setItem(TOKEN_KEY, params.get('token'));
    }
    state.token = sessionStorage.getItem(TOKEN_KEY);
    // The address bar keeps the view and never the token.
    window.history.replaceState(null, '', urlOf(viewFromUrl()));

    for (const b of document.querySelectorAll('.presets button')) {
      b.addEventListener('click', () => navigate({ days: Number(b.dataset.days) }));
    }
    $('controls').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const s = $('start').value, e = $('end').value;
      if (!s || !e || s > e) { showStatus('"From" must be on or before "To".', true); return; }
      for (const b of document.querySelectorAll('.presets button')) b.classList.remove('active');
      navigate({ days: null, start: s, end: e });
    });
    $('service').addEventListener('change', (ev) => navigate({ service: ev.target.value }));
    $('granularity').addEventListener('change', (ev) => navigate({ granularity: ev.target.value }));
    $('endpoints-by').addEventListener('change', (ev) => navigate({ by: ev.target.value }));
    $('event-type').addEventListener('change', (ev) => navigate({ eventType: ev.target.value }));
    window.addEventListener('popstate', () => { applyView(viewFromUrl()); loadAll(); });
    for (const a of document.querySelectorAll('nav.views a')) {
      a.addEventListener('click', (ev) => {
        ev.preventDefault();
        navigate({ view: a.dataset.view });
      });
    }
    $('user-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const id = $('user-input').value.trim();
      if (id) navigate({ view: 'user', user: id, userType: '' });
    });
    // Every panel's CSV button: the API's CSV of the request the panel last drew.
    document.addEventListener('click', (ev) => {
      const btn = ev.target.closest('.card > header .csv');
      const card = btn && btn.closest('.card');
      const what = card && exports.get(card.id);
      if (!what) return;
      download(what.path, what.params, card.id.replace(/^card-/, '')).catch((e) => showStatus(String(e.message || e), true));
    });
    for (const m of dashboard.modules) m.init();
    $('token-form').addEventListener('submit', () => {
      state.token = $('token-input').value.trim();
      sessionStorage.setItem(TOKEN_KEY, state.token);
      $('token-input').value = '';
      start();
    });
    let t = null;
    window.addEventListener('resize', () => {
      clearTimeout(t);
      t = setTimeout(() => Object.values(charts).forEach((c) => c.resize()), 120);
    });
    start();
  }

  async function start() {
    if (!state.token) { askToken(); return; }
    try {
      await loadServices();
    } catch (e) {
      tokenRejected();
      return;
    }
    applyView(viewFromUrl());
    await loadAll();
  }

  Object.assign(dashboard.lib, {
    $, api, apiUrl, chart, download, exportOf, navigate, remember, showStatus, fmtInt, fmtMs, fmtPct, fmtVal,
    fmtDelta, ts, isoDay, bucketList, dense, indexBy, granularity, stepOf, line, area, empty, wrappedLegend,
    timeAxis, valueAxis, axisCommon, baseTooltip, legend, grid, SERIES_COLORS, PCT_COLORS, C, AuthError,
    rateAxis, dayAxis, oneDay, viewDays, drawnAt, state, DAY_MS, MAX_HOURLY_DAYS, yOf,
  });

  document.addEventListener('DOMContentLoaded', init);
})();
