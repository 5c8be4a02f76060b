/* Reliability on the overview: each SLO's remaining error budget (/v1/slos) and the
 * alerts firing now (/v1/alerts), as the evaluator (analytics-alerts) last decided; they
 * do not follow the date range or the service filter (an SLO has its own window and
 * service), and the card says so. Without any SLO or alert rule it says how to get them.
 */
(() => {
  'use strict';

  const dashboard = window.dashboard;
  const lib = dashboard.lib;
  const $ = (id) => lib.$(id);
  const when = (s) => s.slice(0, 16).replace('T', ' ') + ' UTC';

  async function loadSlos() {
    const [slos, alerts] = await Promise.all([lib.api('/v1/slos'), lib.api('/v1/alerts', { limit: 20 })]);
    return () => {
      const firing = alerts.states.filter((s) => s.state === 'firing');
      $('slo-note').textContent = slos.length || alerts.states.length
        ? `as of the evaluator's last run${slos[0] ? ', ' + when(slos[0].as_of) : ''} · not filtered by dates or service`
        : 'No SLO or alert rule evaluated yet: run analytics-alerts (docs/alerts.md).';
      const names = slos.map((s) => `${s.name} (${lib.fmtPct(s.objective)}, ${s.window})`);
      const color = (s) => (s.budget_remaining == null ? lib.C.slate : s.budget_remaining <= 0 ? lib.C.red : s.budget_remaining < 0.25 ? lib.C.amber : lib.C.green);
      lib.chart('chart-slos').setOption(lib.empty({
        tooltip: { ...lib.baseTooltip, axisPointer: { type: 'shadow' }, valueFormatter: lib.fmtPct },
        grid: { ...lib.grid, top: 10, right: 70 },
        xAxis: lib.valueAxis({ max: 1, min: (v) => Math.min(0, v.min), axisLabel: { color: '#6b7489', fontSize: 11, formatter: (v) => Math.round(v * 100) + '%' } }),
        yAxis: { type: 'category', inverse: true, data: names, ...lib.axisCommon, axisLabel: { color: '#1c2333', fontSize: 12 } },
        series: [{
          name: 'error budget left', type: 'bar', barMaxWidth: 22,
          data: slos.map((s) => ({ value: s.budget_remaining, itemStyle: { color: color(s) } })),
          label: { show: true, position: 'right', color: '#4a5368', fontSize: 11, formatter: (p) => lib.fmtPct(slos[p.dataIndex].budget_remaining) },
        }],
      }, slos.length), true);
      const body = $('alerts-firing').tBodies[0];
      body.replaceChildren();
      if (!firing.length) {
        const td = body.insertRow().insertCell();
        td.colSpan = 4; td.textContent = 'No alert is firing.'; td.style.color = '#6b7489';
      }
      for (const a of firing) {
        const tr = body.insertRow();
        tr.dataset.rule = a.rule;
        tr.insertCell().textContent = a.rule;
        tr.insertCell().textContent = a.kind;
        tr.insertCell().textContent = a.severity || '–';
        tr.insertCell().textContent = when(a.since);
      }
    };
  }

  dashboard.modules.push({
    keys: [],
    fromUrl() { return {}; },
    toUrl() {},
    init() {},
    loaders(view) {
      return view === 'overview' ? [loadSlos] : [];
    },
  });
})();
