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
    by: 'p95', eventType: '',
  };
  const RANKINGS = ['p95', 'p99', 'error_rate', 'requests'];
  let generation = 0;
  const charts = {};
  const dashboard = (window.dashboard = { charts, state, loads: 0, errors: [], ready: false });

  // ------------------------------------------------------------------ helpers

  const isoDay = (d) => d.toISOString().slice(0, 10);
  const parseDay = (s) => new Date(s + 'T00:00:00Z');
  const addDays = (s, n) => isoDay(new Date(parseDay(s).getTime() + n * DAY_MS));
  const fmtInt = (n) => (n == null ? '–' : Math.round(n).toLocaleString('en-US'));
  const fmtMs = (v) => (v == null ? '–' : v >= 1000 ? (v / 1000).toFixed(v >= 10000 ? 0 : 1) + ' s' : v >= 10 ? Math.round(v) + ' ms' : v.toFixed(1) + ' ms');
  const fmtPct = (v) => (v == null ? '–' : (v * 100).toFixed(v >= 0.995 || v < 0.1 ? 1 : 1) + '%');
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

  async function api(path, params = {}) {
    const url = new URL(path, window.location.origin);
    for (const [k, v] of Object.entries(params)) {
      if (v !== '' && v != null) url.searchParams.set(k, v);
    }
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
  const timeAxis = (extra = {}, stepMs = DAY_MS) => ({
    type: 'time', ...axisCommon, splitLine: { show: false },
    min: ts(state.range.start) - stepMs / 2, max: ts(state.range.end) - stepMs / 2, ...extra,
  });
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

  // ------------------------------------------------------------------ panels

  // Each panel takes the view's range and returns a function that draws it, so nothing is
  // drawn when a newer view started while its data was on the way.

  function dailySeries(rows) {
    const buckets = bucketList(state.range, DAY_MS);
    const byDay = indexBy(rows, 'day');
    if (oneDay()) return (col, fill = 0) => dense(buckets, byDay, (r) => r[col], fill).map(yOf);
    return (col, fill = 0) => dense(buckets, byDay, (r) => r[col], fill);
  }

  async function loadUsers(range) {
    const { rows } = await api('/v1/active-users', range);
    return () => {
      const d = dailySeries(rows);
      chart('chart-users').setOption(empty({
        color: [C.indigo, C.teal, C.amber],
        tooltip: baseTooltip, legend, grid,
        xAxis: dayAxis(), yAxis: valueAxis({ minInterval: 1 }),
        series: [
          line('MAU', d('mau'), C.amber, { areaStyle: area(C.amber) }),
          line('WAU', d('wau'), C.teal, { areaStyle: area(C.teal) }),
          line('DAU', d('dau'), C.indigo, { areaStyle: area(C.indigo), lineStyle: { width: 2.5, color: C.indigo } }),
        ],
      }, rows.length), true);
    };
  }

  // Every KPI card from one answer (/v1/overview). DAU is the one definition (docs/api.md,
  // the demo's summary): the last whole UTC day inside the range (`dau_day`), today so
  // far only if the range holds only today. The cards cover all services.
  async function loadOverview(range) {
    const o = await api('/v1/overview', range);
    return () => {
      const day = o.dau_day ? o.dau_day.slice(0, 10) : null;
      const partial = day && ts(o.dau_day) + DAY_MS > drawnAt();
      const hint = !day ? 'last whole UTC day' : `${partial ? 'today so far' : 'last whole UTC day'}, ${day}`;
      setKpi('kpi-dau', o.dau == null ? '–' : fmtInt(o.dau), hint);
      setKpi('kpi-wau', o.wau == null ? '–' : fmtInt(o.wau));
      setKpi('kpi-mau', o.mau == null ? '–' : fmtInt(o.mau));
      setKpi('kpi-requests', fmtInt(o.requests));
      setKpi('kpi-p95', o.p95_ms == null ? '–' : fmtMs(o.p95_ms));
      setKpi('kpi-errors', o.error_rate ? fmtPct(o.error_rate) : '–');
      setKpi('kpi-tasks', o.task_success_rate == null ? '–' : fmtPct(o.task_success_rate));
    };
  }

  async function loadEndpoints(range) {
    const { rows } = await api('/v1/endpoints/top', { ...range, service: state.service, by: state.by, limit: 10 });
    return () => {
      $('endpoints-by').value = state.by;
      const body = $('top-endpoints').querySelector('tbody');
      body.replaceChildren();
      if (!rows.length) {
        const td = body.insertRow().insertCell();
        td.colSpan = 9; td.textContent = 'No API traffic in this range.'; td.style.color = '#6b7489';
      }
      for (const r of rows) {
        const tr = body.insertRow();
        const svc = tr.insertCell();
        const pill = document.createElement('span');
        pill.className = 'pill'; pill.textContent = r.service; svc.append(pill);
        tr.insertCell().textContent = r.method;
        tr.insertCell().textContent = r.endpoint;
        for (const v of [fmtInt(r.requests), r.error_rate == null ? '–' : fmtPct(r.error_rate), fmtMs(r.p50_ms), fmtMs(r.p95_ms), fmtMs(r.p99_ms), fmtMs(r.max_ms)]) {
          const td = tr.insertCell(); td.className = 'num'; td.textContent = v;
        }
      }
    };
  }

  // Events per bucket of one event type (the picker; any stored type, custom ones
  // included), stacked by service.
  async function loadEventTrends(range) {
    const { event_types: types } = await api('/v1/events/types');
    const type = types.includes(state.eventType) ? state.eventType : (types[0] || '');
    const g = granularity();
    const rows = type
      ? (await api('/v1/events/trends', { ...range, granularity: g, event_type: type, service: state.service, limit: 100000 })).rows
      : [];
    return () => {
      const sel = $('event-type');
      sel.replaceChildren(...types.map((t) => { const o = document.createElement('option'); o.value = t; o.textContent = t; return o; }));
      sel.value = type;
      const step = stepOf(g);
      const buckets = bucketList(range, step);
      const services = [...new Set(rows.map((r) => r.service))].sort();
      const fit = wrappedLegend('chart-events', services);
      chart('chart-events').setOption(empty({
        tooltip: { ...baseTooltip, axisPointer: { type: 'shadow' } },
        legend: fit.legend, grid: { ...grid, top: fit.top },
        xAxis: timeAxis({}, step), yAxis: valueAxis({ minInterval: 1 }),
        series: services.map((svc, i) => ({
          name: svc, type: 'bar', stack: 'events', barMaxWidth: 16,
          data: dense(buckets, indexBy(rows.filter((r) => r.service === svc), 'bucket'), (r) => r.events, 0),
          itemStyle: { color: SERIES_COLORS[i % SERIES_COLORS.length] },
        })),
      }, rows.length), true);
    };
  }

  function viewDays() {
    return Math.round((ts(state.range.end) - ts(state.range.start)) / DAY_MS);
  }

  // The bucket size of the latency, requests and errors panels.
  function granularity() {
    if (state.granularity !== 'auto') return state.granularity;
    return viewDays() <= AUTO_HOURLY_DAYS ? 'hour' : 'day';
  }
  const stepOf = (g) => (g === 'hour' ? HOUR_MS : DAY_MS);

  async function loadLatency(range) {
    const g = granularity();
    const { rows } = await api('/v1/api-latency', {
      ...range, granularity: g, group_by: 'service', service: state.service, limit: 100000,
    });
    return () => {
      const buckets = bucketList(range, stepOf(g));
      const services = [...new Set(rows.map((r) => r.service))].sort();
      const n = Math.max(1, services.length);
      const cols = Math.min(n, 4);
      const rowsOfGrids = Math.ceil(n / cols);
      const el = $('chart-latency');
      el.style.height = (rowsOfGrids * 268 + 10) + 'px';
      const grids = [], xAxes = [], yAxes = [], titles = [], series = [];
      services.forEach((svc, i) => {
        const col = i % cols, row = Math.floor(i / cols);
        const w = 100 / cols;
        grids.push({ left: `${col * w + 1.5}%`, width: `${w - 3}%`, top: row * 268 + 60, height: 190, containLabel: true });
        titles.push({ text: svc, left: `${col * w + 1.5}%`, top: row * 268 + 32, textStyle: { fontSize: 13, fontWeight: 600, color: '#1c2333' } });
        xAxes.push(timeAxis({ gridIndex: i, axisLabel: { color: '#6b7489', fontSize: 10, hideOverlap: true } }, stepOf(g)));
        // The unit in the labels: an axis name drew "ms" over the service's title.
        yAxes.push(valueAxis({ gridIndex: i, axisLabel: { color: '#6b7489', fontSize: 10, hideOverlap: true, formatter: (v) => fmtInt(v) + ' ms' } }));
        const mine = indexBy(rows.filter((r) => r.service === svc), 'bucket');
        for (const p of ['p99', 'p95', 'p50']) {
          // No row: no traffic in that bucket, so no percentile (a gap, not a zero).
          series.push(line(p, dense(buckets, mine, (r) => r[p + '_ms'], null), PCT_COLORS[p], {
            xAxisIndex: i, yAxisIndex: i,
            lineStyle: { width: p === 'p95' ? 2.2 : 1.5, color: PCT_COLORS[p], type: p === 'p99' ? [4, 3] : 'solid' },
            areaStyle: p === 'p50' ? area(PCT_COLORS.p50) : undefined,
          }));
        }
      });
      const c = chart('chart-latency');
      c.resize();
      c.setOption({
        color: [PCT_COLORS.p99, PCT_COLORS.p95, PCT_COLORS.p50],
        title: services.length ? titles : [{ text: 'No API traffic in this range', left: 'center', top: 'middle', textStyle: { color: '#9aa3b8', fontSize: 13, fontWeight: 500 } }],
        legend: { ...legend, data: ['p50', 'p95', 'p99'] },
        tooltip: { ...baseTooltip, valueFormatter: (v) => fmtMs(v) },
        axisPointer: { link: [{ xAxisIndex: 'all' }] },
        grid: grids.length ? grids : [grid], xAxis: xAxes.length ? xAxes : [timeAxis()], yAxis: yAxes.length ? yAxes : [valueAxis()],
        series,
      }, true);
    };
  }

  async function loadRequests(range) {
    const g = granularity();
    const series = await api('/v1/api-latency', { ...range, granularity: g, group_by: 'total', service: state.service, limit: 100000 });
    return () => {
      const rows = series.rows;
      const buckets = bucketList(range, stepOf(g));
      const byBucket = indexBy(rows, 'bucket');
      const d = (col) => dense(buckets, byBucket, (r) => r[col], 0);
      chart('chart-requests').setOption(empty({
        tooltip: baseTooltip, legend, grid,
        xAxis: timeAxis({}, stepOf(g)),
        // Requests on the left axis, errors on the right (the card's note says so; axis
        // names drew over the legend).
        yAxis: [valueAxis({ minInterval: 1 }), valueAxis({ minInterval: 1, splitLine: { show: false } })],
        series: [
          { name: 'requests', type: 'bar', data: d('requests'), itemStyle: { color: '#c5cff8', borderRadius: [3, 3, 0, 0] }, barMaxWidth: 16 },
          line('4xx', d('errors_4xx'), C.amber, { yAxisIndex: 1 }),
          line('5xx', d('errors_5xx'), C.red, { yAxisIndex: 1, lineStyle: { width: 2.4, color: C.red } }),
        ],
      }, rows.length), true);
    };
  }

  async function loadErrors(range) {
    const g = granularity();
    // The hourly error aggregate serves ranges up to 93 days: a longer custom range is
    // asked for in consecutive pieces, so every bucket of the window is really fetched.
    const pieces = [];
    for (let s = ts(range.start), e = ts(range.end); s < e; s += MAX_HOURLY_DAYS * DAY_MS) {
      const to = Math.min(e, s + MAX_HOURLY_DAYS * DAY_MS);
      pieces.push({ start: new Date(s).toISOString(), end: new Date(to).toISOString() });
    }
    const [parts, top] = await Promise.all([
      Promise.all(pieces.map((p) => api('/v1/errors', { ...p, service: state.service, limit: 100000 }))),
      api('/v1/errors/top', { ...range, service: state.service, limit: 10 }),
    ]);
    const rows = parts.flatMap((p) => p.rows);
    return () => {
      const step = stepOf(g);
      const buckets = bucketList(range, step);
      const totals = new Map();
      for (const r of rows) totals.set(r.error_type, (totals.get(r.error_type) || 0) + r.errors);
      const types = [...totals.entries()].sort((a, b) => b[1] - a[1]).map((e) => e[0]);
      const shown = types.slice(0, 6);
      const names = shown.concat(types.length > 6 ? ['other'] : []);
      // Stacked bars: every series on every bucket of the window, zeros included.
      const grid2 = new Map(names.map((t) => [t, new Map(buckets.map((b) => [b, 0]))]));
      const start = ts(range.start);
      for (const r of rows) {
        const m = grid2.get(shown.includes(r.error_type) ? r.error_type : 'other');
        const b = start + Math.floor((ts(r.hour) - start) / step) * step;
        if (m.has(b)) m.set(b, m.get(b) + r.errors);
      }
      const now = drawnAt();
      const series = names.map((name, i) => ({
        name, type: 'bar', stack: 'errors', barMaxWidth: 16,
        data: buckets.map((b) => [b, b > now ? null : grid2.get(name).get(b)]),
        itemStyle: { color: SERIES_COLORS[(i + 3) % SERIES_COLORS.length] },
        emphasis: { focus: 'series' },
      }));
      const fit = wrappedLegend('chart-errors', names);
      chart('chart-errors').setOption(empty({
        tooltip: { ...baseTooltip, axisPointer: { type: 'shadow' } },
        legend: fit.legend, grid: { ...grid, top: fit.top },
        xAxis: timeAxis({}, step), yAxis: valueAxis({ minInterval: 1 }), series,
      }, rows.length), true);

      const body = $('top-errors').querySelector('tbody');
      body.replaceChildren();
      if (!top.rows.length) {
        const tr = body.insertRow();
        const td = tr.insertCell();
        td.colSpan = 5; td.textContent = 'No errors in this range.'; td.style.color = '#6b7489';
      }
      for (const e of top.rows) {
        const tr = body.insertRow();
        const svc = tr.insertCell();
        const pill = document.createElement('span');
        pill.className = 'pill'; pill.textContent = e.service; svc.append(pill);
        tr.insertCell().textContent = e.error_type;
        const n = tr.insertCell(); n.className = 'num'; n.textContent = fmtInt(e.errors);
        tr.insertCell().textContent = e.last_seen.slice(0, 16).replace('T', ' ') + ' UTC';
        const m = tr.insertCell(); m.className = 'msg'; m.textContent = e.sample_message || '';
      }
    };
  }

  async function loadTasks(range) {
    const { rows } = await api('/v1/tasks', range);
    return () => {
      const d = dailySeries(rows);
      chart('chart-tasks').setOption(empty({
        tooltip: baseTooltip, legend, grid,
        xAxis: dayAxis(),
        yAxis: [valueAxis({ minInterval: 1 }), valueAxis({ min: (v) => Math.max(0, Math.floor(v.min * 10) / 10 - 0.1), max: 1, splitLine: { show: false }, axisLabel: { color: '#6b7489', fontSize: 11, formatter: (v) => Math.round(v * 100) + '%' } })],
        series: [
          { name: 'completed', type: 'bar', stack: 't', data: d('completed'), itemStyle: { color: C.green }, barMaxWidth: 18 },
          { name: 'failed', type: 'bar', stack: 't', data: d('failed'), itemStyle: { color: C.red }, barMaxWidth: 18 },
          { name: 'cancelled', type: 'bar', stack: 't', data: d('cancelled'), itemStyle: { color: C.slate }, barMaxWidth: 18 },
          line('success rate', d('success_rate', null), C.indigo, { yAxisIndex: 1, tooltip: { valueFormatter: fmtPct } }),
        ],
      }, rows.length), true);
    };
  }

  async function loadIntegrations(range) {
    const { rows } = await api('/v1/integrations', { ...range, by_day: false });
    return () => {
      rows.sort((a, b) => a.used - b.used || (a.provider < b.provider ? -1 : 1));
      chart('chart-integrations').setOption(empty({
        tooltip: { ...baseTooltip, axisPointer: { type: 'shadow' } },
        legend, grid: { ...grid, right: 70 },
        xAxis: valueAxis({ minInterval: 1 }),
        yAxis: { type: 'category', data: rows.map((r) => r.provider), ...axisCommon, axisLabel: { color: '#1c2333', fontSize: 12 } },
        series: [
          { name: 'succeeded', type: 'bar', stack: 'u', data: rows.map((r) => r.used_success), itemStyle: { color: C.teal }, barMaxWidth: 22 },
          {
            name: 'failed', type: 'bar', stack: 'u', data: rows.map((r) => r.used_failed), itemStyle: { color: C.red }, barMaxWidth: 22,
            label: { show: true, position: 'right', color: '#4a5368', fontSize: 11, formatter: (p) => fmtPct(rows[p.dataIndex].success_rate) },
          },
        ],
      }, rows.length), true);
    };
  }

  async function loadAuth(range) {
    const { rows } = await api('/v1/auth', range);
    return () => {
      const d = dailySeries(rows);
      chart('chart-auth').setOption(empty({
        tooltip: baseTooltip, legend, grid, xAxis: dayAxis(), yAxis: valueAxis({ minInterval: 1 }),
        series: [
          { name: 'login ok', type: 'bar', stack: 'l', data: d('login_success'), itemStyle: { color: C.indigo }, barMaxWidth: 18 },
          { name: 'login failed', type: 'bar', stack: 'l', data: d('login_failed'), itemStyle: { color: C.rose }, barMaxWidth: 18 },
          line('token refreshes', d('token_refreshes'), C.amber),
        ],
      }, rows.length), true);
    };
  }

  async function loadCocoons(range) {
    const { rows } = await api('/v1/cocoons', range);
    return () => {
      const d = dailySeries(rows);
      chart('chart-cocoons').setOption(empty({
        tooltip: baseTooltip, legend, grid, xAxis: dayAxis(), yAxis: valueAxis({ minInterval: 1 }),
        series: [
          line('connected', d('connected'), C.teal, { areaStyle: area(C.teal) }),
          { name: 'registered', type: 'bar', data: d('registered'), itemStyle: { color: C.violet }, barMaxWidth: 14 },
          { name: 'claimed', type: 'bar', data: d('claimed'), itemStyle: { color: C.sky }, barMaxWidth: 14 },
        ],
      }, rows.length), true);
    };
  }

  // Every panel and KPI card says "Loading…" while its view's data is on the way.
  function setBusy(busy) {
    for (const el of document.querySelectorAll('.card, .kpi')) {
      el.setAttribute('aria-busy', busy ? 'true' : 'false');
    }
  }

  function setKpi(id, value, hint) {
    const el = $(id);
    el.querySelector('.value').textContent = value;
    if (hint !== undefined) el.querySelector('.hint').textContent = hint;
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
    };
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
    return window.location.pathname + '?' + q.toString();
  }

  const currentView = () => ({
    days: state.days, start: state.days == null ? state.start : null, end: state.days == null ? state.end : null,
    service: state.service, granularity: state.granularity, by: state.by, eventType: state.eventType,
  });

  // A user's change: a new history entry, then the redraw.
  function navigate(changes) {
    Object.assign(state, changes);
    window.history.pushState(null, '', urlOf(currentView()));
    loadAll();
  }

  function applyView(view) {
    Object.assign(state, view);
    syncControls();
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

  async function loadAll() {
    if (!state.token) { askToken(); return; }
    const mine = ++generation;
    setBusy(true);
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
    $('range-label').textContent = `${state.start} → ${state.end} (UTC) · ${granularity() === 'hour' ? 'hourly' : 'daily'} · ${state.service || 'all services'}`;
    showStatus('');
    loadHealth();
    const panels = [loadOverview, loadUsers, loadLatency, loadRequests, loadErrors, loadEndpoints, loadEventTrends, loadTasks, loadIntegrations, loadAuth, loadCocoons];
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

  document.addEventListener('DOMContentLoaded', init);
})();
