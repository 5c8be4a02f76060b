/* The overview: the KPI cards and the panels of the precomputed questions (users,
 * latency, requests, errors, tasks, integrations, auth, cocoons, slowest endpoints, event
 * trends, top errors), drawn with dashboard.js's helpers (dashboard.lib) exactly as the
 * API returns them (see dashboard.js's header for what "exactly" means). Each panel
 * records its request for the CSV button (exportOf) and follows the service filter when
 * its question has a service; the others say "all services".
 */
(() => {
  'use strict';

  const dashboard = window.dashboard;
  const {
    $, api, chart, exportOf, fmtInt, fmtMs, fmtPct, fmtDelta, ts, isoDay, bucketList, dense, indexBy,
    granularity, stepOf, line, area, empty, wrappedLegend, timeAxis, valueAxis, axisCommon, baseTooltip,
    legend, grid, SERIES_COLORS, PCT_COLORS, C, rateAxis, dayAxis, oneDay, viewDays, drawnAt, state,
    DAY_MS, MAX_HOURLY_DAYS, yOf,
  } = dashboard.lib;

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
    exportOf('card-users', '/v1/active-users', range);
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

  // Every KPI card from one answer (/v1/overview?compare=true): the range's cards and
  // the previous period's of equal length, for each card's change. DAU is the one
  // definition (docs/api.md, the demo's summary): the last whole UTC day inside the range
  // (`dau_day`), today so far only if the range holds only today. The API cards follow
  // the service filter; the user and task cards have no service and say so.
  async function loadOverview(range) {
    const { current: o, previous: prev } = await api('/v1/overview', { ...range, compare: true, service: state.service });
    return () => {
      const day = o.dau_day ? o.dau_day.slice(0, 10) : null;
      const partial = day && ts(o.dau_day) + DAY_MS > drawnAt();
      const all = state.service ? ' · all services' : '';
      const hint = (!day ? 'last whole UTC day' : `${partial ? 'today so far' : 'last whole UTC day'}, ${day}`) + all;
      const scope = state.service ? state.service + ', in range' : 'all services, in range';
      const cards = [
        ['kpi-dau', 'dau', o.dau == null ? '–' : fmtInt(o.dau), hint],
        ['kpi-wau', 'wau', o.wau == null ? '–' : fmtInt(o.wau), '7-day distinct' + all],
        ['kpi-mau', 'mau', o.mau == null ? '–' : fmtInt(o.mau), '30-day distinct' + all],
        ['kpi-requests', 'requests', fmtInt(o.requests), scope],
        ['kpi-p95', 'p95_ms', o.p95_ms == null ? '–' : fmtMs(o.p95_ms), state.service ? state.service + ', in range' : 'in range'],
        ['kpi-errors', 'error_rate', o.error_rate ? fmtPct(o.error_rate) : '–', '4xx + 5xx' + (state.service ? ', ' + state.service : '')],
        ['kpi-tasks', 'task_success_rate', o.task_success_rate == null ? '–' : fmtPct(o.task_success_rate), 'completed / finished' + all],
      ];
      const days = viewDays();
      for (const [id, key, value, h] of cards) {
        setKpi(id, value, h);
        const rate = key === 'error_rate' || key === 'task_success_rate';
        const d = fmtDelta(o[key], prev ? prev[key] : null, rate);
        const el = $(id).querySelector('.delta');
        el.textContent = d;
        el.dataset.trend = d.startsWith('+') ? 'up' : d.startsWith('-') ? 'down' : 'flat';
        el.title = prev ? `against the previous ${days} day${days === 1 ? '' : 's'}: ${prev[key] == null ? 'no data' : prev[key]}` : 'no previous period';
      }
    };
  }

  async function loadEndpoints(range) {
    const params = { ...range, service: state.service, by: state.by, limit: 10 };
    exportOf('card-endpoints', '/v1/endpoints/top', params);
    const { rows } = await api('/v1/endpoints/top', params);
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
        // A row opens that endpoint's drill-down (drill.js).
        tr.className = 'drillable'; tr.tabIndex = 0;
        tr.title = 'Open this endpoint\'s latency, requests and errors over time';
        tr.dataset.service = r.service; tr.dataset.method = r.method; tr.dataset.endpoint = r.endpoint;
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
    const params = { ...range, granularity: g, event_type: type, service: state.service, limit: 100000 };
    exportOf('card-events', '/v1/events/trends', params);
    const rows = type ? (await api('/v1/events/trends', params)).rows : [];
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

  async function loadLatency(range) {
    const g = granularity();
    const params = { ...range, granularity: g, group_by: 'service', service: state.service, limit: 100000 };
    exportOf('card-latency', '/v1/api-latency', params);
    const { rows } = await api('/v1/api-latency', params);
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
        // A logarithmic axis: one p99 spike of a low-volume service on a linear axis
        // pressed its p50 and p95 into a flat line at the bottom.
        yAxes.push(valueAxis({ type: 'log', logBase: 10, gridIndex: i, axisLabel: { color: '#6b7489', fontSize: 10, hideOverlap: true, formatter: (v) => fmtMs(v) } }));
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
    const params = { ...range, granularity: g, group_by: 'total', service: state.service, limit: 100000 };
    exportOf('card-requests', '/v1/api-latency', params);
    const series = await api('/v1/api-latency', params);
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
    // The CSV: the window's first 93 days (the most one request of the hourly errors serves).
    exportOf('card-errors', '/v1/errors', { ...pieces[0], service: state.service, limit: 100000 });
    exportOf('card-top-errors', '/v1/errors/top', { ...range, service: state.service, limit: 10 });
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
    exportOf('card-tasks', '/v1/tasks', range);
    const { rows } = await api('/v1/tasks', range);
    return () => {
      const d = dailySeries(rows);
      chart('chart-tasks').setOption(empty({
        tooltip: baseTooltip, legend, grid,
        xAxis: dayAxis(),
        yAxis: [valueAxis({ minInterval: 1 }), rateAxis(rows.map((r) => r.success_rate))],
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
    exportOf('card-integrations', '/v1/integrations', { ...range, by_day: false });
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
    exportOf('card-auth', '/v1/auth', range);
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
    exportOf('card-cocoons', '/v1/cocoons', range);
    const { rows } = await api('/v1/cocoons', range);
    return () => {
      const d = dailySeries(rows);
      chart('chart-cocoons').setOption(empty({
        // Registrations and claims are a few a day beside hundreds of connections: their
        // own (right) axis, or their bars would be invisible.
        tooltip: baseTooltip, legend, grid, xAxis: dayAxis(),
        yAxis: [valueAxis({ minInterval: 1 }), valueAxis({ minInterval: 1, splitLine: { show: false } })],
        series: [
          line('connected', d('connected'), C.teal, { areaStyle: area(C.teal) }),
          { name: 'registered', type: 'bar', yAxisIndex: 1, data: d('registered'), itemStyle: { color: C.violet }, barMaxWidth: 14 },
          { name: 'claimed', type: 'bar', yAxisIndex: 1, data: d('claimed'), itemStyle: { color: C.sky }, barMaxWidth: 14 },
        ],
      }, rows.length), true);
    };
  }

  // Panels whose question has no service say so while a service filter is on.
  const UNFILTERED = ['card-users', 'card-tasks', 'card-integrations', 'card-auth', 'card-cocoons'];
  function markScopes() {
    for (const el of document.querySelectorAll('#view-overview .card .scope')) {
      const unfiltered = UNFILTERED.includes(el.closest('.card').id);
      el.textContent = state.service && unfiltered ? 'all services (no service in this question)' : '';
    }
  }

  function setKpi(id, value, hint) {
    const el = $(id);
    el.querySelector('.value').textContent = value;
    if (hint !== undefined) el.querySelector('.hint').textContent = hint;
  }


  dashboard.modules.push({
    keys: [],
    fromUrl() { return {}; },
    toUrl() {},
    init() {},
    loaders(view) {
      if (view !== 'overview') return [];
      const scopes = async () => markScopes;
      return [scopes, loadOverview, loadUsers, loadLatency, loadRequests, loadErrors, loadEndpoints, loadEventTrends, loadTasks, loadIntegrations, loadAuth, loadCocoons];
    },
  });
})();
