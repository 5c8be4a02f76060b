/* The slowest endpoints' drill-down: a click (or Enter) on a row opens that endpoint's
 * p50/p95/p99 latency, requests and errors over the view's range, from
 * /v1/api-latency?group_by=endpoint with the row's service, endpoint and method (the
 * API's endpoint filter). The endpoint is part of the URL (d_service, d_method,
 * d_endpoint), so a drill-down is a link; Close removes it.
 */
(() => {
  'use strict';

  const dashboard = window.dashboard;
  const lib = dashboard.lib;

  async function loadDrill(range) {
    const d = dashboard.state.drill;
    const card = lib.$('card-drill');
    if (!d) {
      return () => { card.hidden = true; };
    }
    const g = lib.granularity();
    const params = {
      ...range, granularity: g, group_by: 'endpoint', service: d.service, endpoint: d.endpoint,
      method: d.method, limit: 100000,
    };
    lib.exportOf('card-drill', '/v1/api-latency', params);
    const { rows } = await lib.api('/v1/api-latency', params);
    return () => {
      card.hidden = false;
      lib.$('drill-title').textContent = `${d.method} ${d.endpoint} · ${d.service}`;
      for (const tr of document.querySelectorAll('#top-endpoints tbody tr.drillable')) {
        tr.classList.toggle('selected', tr.dataset.service === d.service
          && tr.dataset.method === d.method && tr.dataset.endpoint === d.endpoint);
      }
      const step = lib.stepOf(g);
      const buckets = lib.bucketList(range, step);
      const byBucket = lib.indexBy(rows, 'bucket');
      const pct = (col) => lib.dense(buckets, byBucket, (r) => r[col], null);
      const count = (col) => lib.dense(buckets, byBucket, (r) => r[col], 0);
      const c = lib.chart('chart-drill');
      c.resize();
      const x = (i) => lib.timeAxis({ gridIndex: i }, step);
      c.setOption(lib.empty({
        tooltip: lib.baseTooltip,
        legend: { ...lib.legend, data: ['p50', 'p95', 'p99', 'requests', '4xx', '5xx'] },
        axisPointer: { link: [{ xAxisIndex: 'all' }] },
        grid: [
          { left: 8, right: 12, top: 34, height: '48%', containLabel: true },
          { left: 8, right: 12, top: '68%', bottom: 4, containLabel: true },
        ],
        xAxis: [x(0), x(1)],
        yAxis: [
          lib.valueAxis({ type: 'log', logBase: 10, gridIndex: 0, axisLabel: { color: '#6b7489', fontSize: 10, hideOverlap: true, formatter: (v) => lib.fmtMs(v) } }),
          lib.valueAxis({ gridIndex: 1, minInterval: 1 }),
        ],
        series: [
          ...['p50', 'p95', 'p99'].map((p) => lib.line(p, pct(p + '_ms'), lib.PCT_COLORS[p], {
            xAxisIndex: 0, yAxisIndex: 0, tooltip: { valueFormatter: lib.fmtMs },
          })),
          { name: 'requests', type: 'bar', xAxisIndex: 1, yAxisIndex: 1, data: count('requests'), itemStyle: { color: '#c5cff8' }, barMaxWidth: 14 },
          { name: '4xx', type: 'bar', stack: 'e', xAxisIndex: 1, yAxisIndex: 1, data: count('errors_4xx'), itemStyle: { color: lib.C.amber }, barMaxWidth: 14 },
          { name: '5xx', type: 'bar', stack: 'e', xAxisIndex: 1, yAxisIndex: 1, data: count('errors_5xx'), itemStyle: { color: lib.C.red }, barMaxWidth: 14 },
        ],
      }, rows.length), true);
    };
  }

  function open(tr) {
    const drill = { service: tr.dataset.service, method: tr.dataset.method, endpoint: tr.dataset.endpoint };
    lib.navigate({ drill }, [loadDrill]);
    lib.$('card-drill').scrollIntoView({ block: 'nearest' });
  }

  dashboard.modules.push({
    keys: ['drill'],
    fromUrl(q) {
      const ok = q.get('d_service') && q.get('d_endpoint') && q.get('d_method');
      return { drill: ok ? { service: q.get('d_service'), method: q.get('d_method'), endpoint: q.get('d_endpoint') } : null };
    },
    toUrl(view, q) {
      if (!view.drill) return;
      q.set('d_service', view.drill.service);
      q.set('d_method', view.drill.method);
      q.set('d_endpoint', view.drill.endpoint);
    },
    init() {
      const body = lib.$('top-endpoints').querySelector('tbody');
      body.addEventListener('click', (ev) => {
        const tr = ev.target.closest('tr.drillable');
        if (tr) open(tr);
      });
      body.addEventListener('keydown', (ev) => {
        const tr = ev.target.closest('tr.drillable');
        if (tr && ev.key === 'Enter') open(tr);
      });
      lib.$('drill-close').addEventListener('click', () => lib.navigate({ drill: null }, [loadDrill]));
    },
    loaders(view) {
      return view === 'overview' ? [loadDrill] : [];
    },
  });
})();
