/* Platform analytics dashboard: reads /v1/* with the bearer token, draws with ECharts.
 *
 * The token comes from ?token=... (then removed from the address bar) or from a prompt,
 * and lives in sessionStorage only. Every control change reloads all panels; each panel
 * is independent, so one failing query does not blank the others.
 * window.dashboard exposes the chart instances and a load counter (used by the tests).
 */
(() => {
  'use strict';

  const TOKEN_KEY = 'lib-analytics-core.token';
  const DAY_MS = 86400000;
  const C = {
    indigo: '#4f6bed', teal: '#2bb3a3', amber: '#f2a541', rose: '#e0577a', slate: '#8792ab',
    green: '#36b37e', red: '#e5484d', violet: '#8e6cf0', sky: '#3aa0e8',
  };
  const SERIES_COLORS = [C.indigo, C.teal, C.amber, C.rose, C.violet, C.sky, C.green, C.slate];
  const PCT_COLORS = { p50: C.teal, p95: C.indigo, p99: C.rose };

  const $ = (id) => document.getElementById(id);
  const state = { token: null, start: null, end: null, service: '', days: 30 };
  const charts = {};
  const dashboard = (window.dashboard = { charts, state, loads: 0, errors: [], ready: false });

  // ------------------------------------------------------------------ helpers

  const isoDay = (d) => d.toISOString().slice(0, 10);
  const parseDay = (s) => new Date(s + 'T00:00:00Z');
  const addDays = (s, n) => isoDay(new Date(parseDay(s).getTime() + n * DAY_MS));
  const todayUtc = () => isoDay(new Date());
  const fmtInt = (n) => (n == null ? '–' : Math.round(n).toLocaleString('en-US'));
  const fmtMs = (v) => (v == null ? '–' : v >= 1000 ? (v / 1000).toFixed(v >= 10000 ? 0 : 1) + ' s' : v >= 10 ? Math.round(v) + ' ms' : v.toFixed(1) + ' ms');
  const fmtPct = (v) => (v == null ? '–' : (v * 100).toFixed(v >= 0.995 || v < 0.1 ? 1 : 1) + '%');
  const ts = (s) => new Date(s).getTime();

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
        const body = await resp.json();
        detail = typeof body.detail === 'string' ? body.detail
          : (body.detail || []).map((d) => `${(d.loc || []).slice(-1)[0]}: ${d.msg}`).join('; ');
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
    axisLabel: { color: '#6b7489', fontSize: 11 },
    splitLine: { lineStyle: { color: '#eef1f6' } },
  };
  const timeAxis = (extra = {}) => ({ type: 'time', ...axisCommon, splitLine: { show: false }, ...extra });
  const valueAxis = (extra = {}) => ({ type: 'value', ...axisCommon, ...extra });
  const legend = { top: 0, right: 0, icon: 'roundRect', itemWidth: 12, itemHeight: 8, textStyle: { color: '#4a5368', fontSize: 12 } };
  const grid = { left: 8, right: 12, top: 34, bottom: 4, containLabel: true };

  function empty(option, rows) {
    option.title = rows === 0
      ? { text: 'No data in this range', left: 'center', top: 'middle', textStyle: { color: '#9aa3b8', fontSize: 13, fontWeight: 500 } }
      : { show: false };
    return option;
  }

  const line = (name, data, color, extra = {}) => ({
    name, type: 'line', data, showSymbol: false, smooth: 0.25, lineStyle: { width: 2, color }, itemStyle: { color }, ...extra,
  });
  const area = (color) => ({
    color: new echarts.graphic.LinearGradient(0, 0, 0, 1, [
      { offset: 0, color: color + '40' }, { offset: 1, color: color + '05' },
    ]),
  });

  // ------------------------------------------------------------------ panels

  async function loadUsers(range) {
    const { rows } = await api('/v1/active-users', range);
    const pts = (k) => rows.map((r) => [ts(r.day), r[k]]);
    chart('chart-users').setOption(empty({
      color: [C.indigo, C.teal, C.amber],
      tooltip: baseTooltip, legend, grid,
      xAxis: timeAxis(), yAxis: valueAxis({ minInterval: 1 }),
      series: [
        line('MAU', pts('mau'), C.amber, { areaStyle: area(C.amber) }),
        line('WAU', pts('wau'), C.teal, { areaStyle: area(C.teal) }),
        line('DAU', pts('dau'), C.indigo, { areaStyle: area(C.indigo), lineStyle: { width: 2.5, color: C.indigo } }),
      ],
    }, rows.length), true);
    // The latest *complete* day: today is still filling up.
    const today = todayUtc();
    const complete = rows.filter((r) => r.day.slice(0, 10) < today);
    const last = complete.length ? complete[complete.length - 1] : rows[rows.length - 1];
    setKpi('kpi-dau', last ? fmtInt(last.dau) : '–', last ? 'on ' + last.day.slice(0, 10) : 'latest day');
    setKpi('kpi-wau', last ? fmtInt(last.wau) : '–');
    setKpi('kpi-mau', last ? fmtInt(last.mau) : '–');
  }

  function latencyGranularity() {
    return state.days <= 14 ? 'hour' : 'day';
  }

  async function loadLatency(range) {
    const granularity = latencyGranularity();
    const { rows } = await api('/v1/api-latency', {
      ...range, granularity, group_by: 'service', service: state.service, limit: 100000,
    });
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
      xAxes.push(timeAxis({ gridIndex: i, axisLabel: { color: '#6b7489', fontSize: 10, hideOverlap: true } }));
      yAxes.push(valueAxis({ gridIndex: i, name: 'ms', nameTextStyle: { color: '#9aa3b8', fontSize: 10 }, axisLabel: { color: '#6b7489', fontSize: 10 } }));
      const mine = rows.filter((r) => r.service === svc);
      for (const p of ['p99', 'p95', 'p50']) {
        series.push(line(p, mine.map((r) => [ts(r.bucket), r[p + '_ms'] == null ? null : Math.round(r[p + '_ms'] * 10) / 10]), PCT_COLORS[p], {
          xAxisIndex: i, yAxisIndex: i, smooth: 0.15,
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
  }

  async function loadRequests(range) {
    const granularity = latencyGranularity();
    const [series, total] = await Promise.all([
      api('/v1/api-latency', { ...range, granularity, group_by: 'total', service: state.service, limit: 100000 }),
      api('/v1/api-latency', { ...range, granularity: 'total', group_by: 'total', service: state.service }),
    ]);
    const rows = series.rows;
    chart('chart-requests').setOption(empty({
      tooltip: baseTooltip, legend, grid,
      xAxis: timeAxis(),
      yAxis: [valueAxis({ name: 'requests', nameTextStyle: { color: '#9aa3b8' } }),
        valueAxis({ name: 'errors', nameTextStyle: { color: '#9aa3b8' }, splitLine: { show: false } })],
      series: [
        { name: 'requests', type: 'bar', data: rows.map((r) => [ts(r.bucket), r.requests]), itemStyle: { color: '#c5cff8', borderRadius: [3, 3, 0, 0] }, barMaxWidth: 16 },
        line('4xx', rows.map((r) => [ts(r.bucket), r.errors_4xx]), C.amber, { yAxisIndex: 1 }),
        line('5xx', rows.map((r) => [ts(r.bucket), r.errors_5xx]), C.red, { yAxisIndex: 1, lineStyle: { width: 2.4, color: C.red } }),
      ],
    }, rows.length), true);
    const t = total.rows[0];
    setKpi('kpi-requests', t ? fmtInt(t.requests) : '–', state.service ? state.service : 'all services');
    setKpi('kpi-p95', t ? fmtMs(t.p95_ms) : '–', t ? `p50 ${fmtMs(t.p50_ms)} · p99 ${fmtMs(t.p99_ms)}` : 'in range');
    setKpi('kpi-errors', t ? fmtPct(t.error_rate) : '–', t ? `${fmtInt(t.errors_4xx)} 4xx · ${fmtInt(t.errors_5xx)} 5xx` : '4xx + 5xx');
  }

  async function loadErrors(range) {
    const hourly = state.days <= 3;
    const params = { ...range, service: state.service, limit: 100000 };
    // The hourly error aggregate serves ranges up to ~3 months.
    if (state.days > 93) params.start = addDays(range.end.slice(0, 10), -93);
    const [{ rows }, top] = await Promise.all([
      api('/v1/errors', params),
      api('/v1/errors/top', { ...range, service: state.service, limit: 10 }),
    ]);
    const totals = new Map();
    for (const r of rows) totals.set(r.error_type, (totals.get(r.error_type) || 0) + r.errors);
    const types = [...totals.entries()].sort((a, b) => b[1] - a[1]).map((e) => e[0]);
    const shown = types.slice(0, 6);
    const bucketOf = (h) => (hourly ? ts(h) : ts(h.slice(0, 10) + 'T00:00:00Z'));
    const byType = new Map(shown.concat(types.length > 6 ? ['other'] : []).map((t) => [t, new Map()]));
    for (const r of rows) {
      const key = shown.includes(r.error_type) ? r.error_type : 'other';
      const m = byType.get(key);
      const b = bucketOf(r.hour);
      m.set(b, (m.get(b) || 0) + r.errors);
    }
    const series = [...byType.entries()].map(([name, m], i) => ({
      name, type: 'bar', stack: 'errors', barMaxWidth: 16,
      data: [...m.entries()].sort((a, b) => a[0] - b[0]),
      itemStyle: { color: SERIES_COLORS[(i + 3) % SERIES_COLORS.length] },
      emphasis: { focus: 'series' },
    }));
    chart('chart-errors').setOption(empty({
      tooltip: { ...baseTooltip, axisPointer: { type: 'shadow' } },
      legend: { ...legend, type: 'scroll', left: 0, right: 0 }, grid: { ...grid, top: 40 },
      xAxis: timeAxis(), yAxis: valueAxis({ minInterval: 1 }), series,
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
  }

  async function loadTasks(range) {
    const { rows } = await api('/v1/tasks', range);
    const d = (k) => rows.map((r) => [ts(r.day), r[k]]);
    chart('chart-tasks').setOption(empty({
      tooltip: baseTooltip, legend, grid,
      xAxis: timeAxis(),
      yAxis: [valueAxis({ minInterval: 1 }), valueAxis({ min: (v) => Math.max(0, Math.floor(v.min * 10) / 10 - 0.1), max: 1, splitLine: { show: false }, axisLabel: { color: '#6b7489', fontSize: 11, formatter: (v) => Math.round(v * 100) + '%' } })],
      series: [
        { name: 'completed', type: 'bar', stack: 't', data: d('completed'), itemStyle: { color: C.green }, barMaxWidth: 18 },
        { name: 'failed', type: 'bar', stack: 't', data: d('failed'), itemStyle: { color: C.red }, barMaxWidth: 18 },
        { name: 'cancelled', type: 'bar', stack: 't', data: d('cancelled'), itemStyle: { color: C.slate }, barMaxWidth: 18 },
        line('success rate', d('success_rate'), C.indigo, { yAxisIndex: 1, tooltip: { valueFormatter: fmtPct } }),
      ],
    }, rows.length), true);
    const completed = rows.reduce((a, r) => a + r.completed, 0);
    const failed = rows.reduce((a, r) => a + r.failed, 0);
    setKpi('kpi-tasks', completed + failed ? fmtPct(completed / (completed + failed)) : '–', `${fmtInt(completed + failed)} finished`);
  }

  async function loadIntegrations(range) {
    const { rows } = await api('/v1/integrations', { ...range, by_day: false });
    rows.sort((a, b) => a.used - b.used);
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
  }

  async function loadAuth(range) {
    const { rows } = await api('/v1/auth', range);
    const d = (k) => rows.map((r) => [ts(r.day), r[k]]);
    chart('chart-auth').setOption(empty({
      tooltip: baseTooltip, legend, grid, xAxis: timeAxis(), yAxis: valueAxis({ minInterval: 1 }),
      series: [
        { name: 'login ok', type: 'bar', stack: 'l', data: d('login_success'), itemStyle: { color: C.indigo }, barMaxWidth: 18 },
        { name: 'login failed', type: 'bar', stack: 'l', data: d('login_failed'), itemStyle: { color: C.rose }, barMaxWidth: 18 },
        line('token refreshes', d('token_refreshes'), C.amber),
      ],
    }, rows.length), true);
  }

  async function loadCocoons(range) {
    const { rows } = await api('/v1/cocoons', range);
    const d = (k) => rows.map((r) => [ts(r.day), r[k]]);
    chart('chart-cocoons').setOption(empty({
      tooltip: baseTooltip, legend, grid, xAxis: timeAxis(), yAxis: valueAxis({ minInterval: 1 }),
      series: [
        line('connected', d('connected'), C.teal, { areaStyle: area(C.teal) }),
        { name: 'registered', type: 'bar', data: d('registered'), itemStyle: { color: C.violet }, barMaxWidth: 14 },
        { name: 'claimed', type: 'bar', data: d('claimed'), itemStyle: { color: C.sky }, barMaxWidth: 14 },
      ],
    }, rows.length), true);
  }

  function setKpi(id, value, hint) {
    const el = $(id);
    el.querySelector('.value').textContent = value;
    if (hint !== undefined) el.querySelector('.hint').textContent = hint;
  }

  // ------------------------------------------------------------------ flow

  function rangeParams() {
    return { start: state.start + 'T00:00:00Z', end: addDays(state.end, 1) + 'T00:00:00Z' };
  }

  function showStatus(msg, isError) {
    const el = $('status');
    el.textContent = msg || '';
    el.classList.toggle('error', Boolean(isError));
  }

  async function loadAll() {
    if (!state.token) { askToken(); return; }
    const range = rangeParams();
    $('range-label').textContent = `${state.start} → ${state.end} (UTC) · ${state.service || 'all services'}`;
    showStatus('');
    const panels = [loadUsers, loadLatency, loadRequests, loadErrors, loadTasks, loadIntegrations, loadAuth, loadCocoons];
    const results = await Promise.allSettled(panels.map((p) => p(range)));
    const failures = results.filter((r) => r.status === 'rejected').map((r) => r.reason);
    if (failures.some((e) => e instanceof AuthError)) {
      sessionStorage.removeItem(TOKEN_KEY);
      state.token = null;
      askToken('That token was rejected.');
      return;
    }
    dashboard.errors = failures.map((e) => String(e.message || e));
    if (failures.length) showStatus(dashboard.errors.join(' · '), true);
    dashboard.loads += 1;
    dashboard.ready = true;
    document.body.dataset.loads = String(dashboard.loads);
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

  function setRange(days) {
    state.days = days;
    state.end = todayUtc();
    state.start = addDays(state.end, -(days - 1));
    $('start').value = state.start;
    $('end').value = state.end;
    for (const b of document.querySelectorAll('.presets button')) {
      b.classList.toggle('active', Number(b.dataset.days) === days);
    }
  }

  function init() {
    const params = new URLSearchParams(window.location.search);
    if (params.has('token')) {
      sessionStorage.setItem(TOKEN_KEY, params.get('token'));
      params.delete('token');
      const q = params.toString();
      window.history.replaceState(null, '', window.location.pathname + (q ? '?' + q : ''));
    }
    state.token = sessionStorage.getItem(TOKEN_KEY);
    setRange(30);

    for (const b of document.querySelectorAll('.presets button')) {
      b.addEventListener('click', () => { setRange(Number(b.dataset.days)); loadAll(); });
    }
    $('controls').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const s = $('start').value, e = $('end').value;
      if (!s || !e || s > e) { showStatus('"From" must be on or before "To".', true); return; }
      state.start = s; state.end = e;
      state.days = Math.round((parseDay(e) - parseDay(s)) / DAY_MS) + 1;
      for (const b of document.querySelectorAll('.presets button')) b.classList.remove('active');
      loadAll();
    });
    $('service').addEventListener('change', (ev) => { state.service = ev.target.value; loadAll(); });
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
      sessionStorage.removeItem(TOKEN_KEY);
      state.token = null;
      askToken('That token was rejected.');
      return;
    }
    await loadAll();
  }

  document.addEventListener('DOMContentLoaded', init);
})();
