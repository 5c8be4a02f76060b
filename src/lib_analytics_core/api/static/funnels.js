/* Funnels and retention (view=funnels): /v1/funnel and /v1/retention (read/funnels.py,
 * read/retention.py, whose definitions are the contract), over the view's range.
 *
 * The funnel: event types in order (comma-separated, a type may repeat) and the
 * conversion window; drawn as one bar per step (users who reached it) labelled with the
 * conversion from the first step, and a table with the conversion from the previous step
 * and the median time between them. Retention: the cohort event (a user's first one in
 * the range puts them in the cohort of its period), what counts as coming back (any
 * event by default) and the period; a table of cohorts by periods after, as shares of
 * the cohort. Both read raw events (kept 90 days): the API says so for longer ranges.
 * The choices are in the URL (f_steps, f_within, r_cohort, r_return, r_period).
 */
(() => {
  'use strict';

  const dashboard = window.dashboard;
  const lib = dashboard.lib;
  const $ = (id) => lib.$(id);
  const PERIODS = ['day', 'week', 'month'];
  const fmtSecs = (s) => (s == null ? '–' : s < 60 ? `${s.toFixed(s < 10 ? 1 : 0)} s` : s < 3600 ? `${(s / 60).toFixed(1)} min` : s < 86400 ? `${(s / 3600).toFixed(1)} h` : `${(s / 86400).toFixed(1)} d`);
  const share = (n, of) => (of ? lib.fmtPct(n / of) : '–');

  const f = () => dashboard.state.funnels;
  // A user's path crosses services: these questions have no service filter, and say so.
  const allServices = () => (dashboard.state.service ? ' · all services (no service filter here)' : '');

  function defaults(types) {
    const want = ['task_created', 'task_started', 'task_completed'];
    const steps = want.every((t) => types.includes(t)) ? want : types.slice(0, 2);
    const cohort = types.includes('task_created') ? 'task_created' : (types[0] || '');
    return { steps: steps.join(','), cohort };
  }

  async function loadFunnels(range) {
    const { event_types: types } = await lib.api('/v1/events/types');
    const st = { ...f() };
    const d = defaults(types);
    st.steps = st.steps || d.steps;
    st.cohort = types.includes(st.cohort) ? st.cohort : d.cohort;
    const days = Math.round((lib.ts(range.end) - lib.ts(range.start)) / 86400000);
    const period = st.period || (days <= 14 ? 'day' : 'week');
    Object.assign(f(), st);
    const funnelParams = { ...range, steps: st.steps, within: st.within };
    const retentionParams = { ...range, cohort_event: st.cohort, return_event: st.ret, period };
    const [funnel, cohorts] = await Promise.allSettled([
      st.steps.split(',').length >= 2 ? lib.api('/v1/funnel', funnelParams) : Promise.reject(new Error('a funnel needs at least two steps')),
      st.cohort ? lib.api('/v1/retention', retentionParams) : Promise.reject(new Error('no event stored to start a cohort')),
    ]);
    for (const r of [funnel, cohorts]) if (r.status === 'rejected' && r.reason instanceof lib.AuthError) throw r.reason;
    return () => {
      controls(types, st, period);
      drawFunnel(funnel.status === 'fulfilled' ? funnel.value : null, funnel.reason);
      drawRetention(cohorts.status === 'fulfilled' ? cohorts.value : null, cohorts.reason);
    };
  }

  function controls(types, st, period) {
    $('f-steps').value = st.steps;
    $('f-within').value = st.within;
    $('f-types').replaceChildren(...types.map((t) => { const o = document.createElement('option'); o.value = t; return o; }));
    for (const [id, first] of [['r-cohort', null], ['r-return', ['', 'any event']]]) {
      const sel = $(id);
      const values = (first ? [first] : []).concat(types.map((t) => [t, t]));
      sel.replaceChildren(...values.map(([v, text]) => { const o = document.createElement('option'); o.value = v; o.textContent = text; return o; }));
    }
    $('r-cohort').value = st.cohort;
    $('r-return').value = st.ret;
    $('r-period').value = period;
  }

  function drawFunnel(result, error) {
    $('f-note').textContent = (result ? `window: ${fmtSecs(result.within_seconds)} from the first step` : String((error && error.message) || error || '')) + allServices();
    const steps = result ? result.steps : [];
    const cats = steps.map((s, i) => `${i + 1}. ${s.event_type}`);
    lib.chart('chart-funnel').setOption(lib.empty({
      tooltip: { ...lib.baseTooltip, axisPointer: { type: 'shadow' } },
      grid: { ...lib.grid, right: 70 },
      xAxis: lib.valueAxis({ minInterval: 1 }),
      yAxis: { type: 'category', inverse: true, data: cats, ...lib.axisCommon, axisLabel: { color: '#1c2333', fontSize: 12 } },
      series: [{
        name: 'users', type: 'bar', data: steps.map((s) => s.users), itemStyle: { color: lib.C.indigo }, barMaxWidth: 26,
        label: { show: true, position: 'right', color: '#4a5368', fontSize: 11, formatter: (p) => lib.fmtPct(steps[p.dataIndex].conversion_from_first) },
      }],
    }, steps.length), true);
    const body = $('f-table').tBodies[0];
    body.replaceChildren();
    for (const [i, s] of steps.entries()) {
      const tr = body.insertRow();
      tr.insertCell().textContent = cats[i];
      for (const v of [lib.fmtInt(s.users), lib.fmtPct(s.conversion_from_previous), lib.fmtPct(s.conversion_from_first), fmtSecs(s.median_seconds_from_previous)]) {
        const td = tr.insertCell(); td.className = 'num'; td.textContent = v;
      }
    }
  }

  function drawRetention(result, error) {
    $('r-note').textContent = (result ? `cohorts by ${result.period}, as of ${result.as_of.slice(0, 16).replace('T', ' ')} UTC` : String((error && error.message) || error || '')) + allServices();
    const table = $('r-table');
    const n = result ? result.periods : 0;
    const head = document.createElement('tr');
    for (const h of ['Cohort', 'Users', ...Array.from({ length: n }, (_, k) => `${result.period} ${k + 1}`)]) {
      const th = document.createElement('th'); th.textContent = h; th.className = h === 'Cohort' ? '' : 'num'; head.append(th);
    }
    table.tHead.replaceChildren(head);
    const body = table.tBodies[0];
    body.replaceChildren();
    for (const c of result ? result.cohorts : []) {
      const tr = body.insertRow();
      tr.insertCell().textContent = c.period_start.slice(0, 10);
      const size = tr.insertCell(); size.className = 'num'; size.textContent = lib.fmtInt(c.size);
      for (const k of Array.from({ length: n }, (_, i) => i + 1)) {
        const td = tr.insertCell(); td.className = 'num retention';
        if (k < c.returned.length) {
          td.textContent = share(c.returned[k], c.size);
          td.title = `${c.returned[k]} of ${c.size}`;
          td.style.setProperty('--share', String(c.size ? c.returned[k] / c.size : 0));
        }
      }
    }
  }

  function change(changes) {
    lib.navigate({ funnels: { ...f(), ...changes } });
  }

  dashboard.modules.push({
    keys: ['funnels'],
    fromUrl(q) {
      return {
        funnels: {
          steps: (q.get('f_steps') || '').split(',').map((s) => s.trim()).filter(Boolean).join(','),
          within: /^\d+[smhdw]$/.test(q.get('f_within') || '') ? q.get('f_within') : '14d',
          cohort: q.get('r_cohort') || '', ret: q.get('r_return') || '',
          period: PERIODS.includes(q.get('r_period')) ? q.get('r_period') : '',
        },
      };
    },
    toUrl(view, q) {
      const st = view.funnels;
      if (!st || view.view !== 'funnels') return;
      if (st.steps) q.set('f_steps', st.steps);
      if (st.within !== '14d') q.set('f_within', st.within);
      if (st.cohort) q.set('r_cohort', st.cohort);
      if (st.ret) q.set('r_return', st.ret);
      if (st.period) q.set('r_period', st.period);
    },
    init() {
      $('f-form').addEventListener('submit', (ev) => {
        ev.preventDefault();
        change({ steps: $('f-steps').value.split(',').map((s) => s.trim()).filter(Boolean).join(','), within: $('f-within').value.trim() || '14d' });
      });
      $('r-cohort').addEventListener('change', (ev) => change({ cohort: ev.target.value }));
      $('r-return').addEventListener('change', (ev) => change({ ret: ev.target.value }));
      $('r-period').addEventListener('change', (ev) => change({ period: ev.target.value }));
    },
    loaders(view) {
      return view === 'funnels' ? [loadFunnels] : [];
    },
  });
})();
